/**
 * Image cropper: cuts one crop out of the image for each upstream region, grown by an
 * optional margin, and stores it in S3 as PNG. Downstream nodes fed by the image then run
 * once per crop. Inside a crop scope it crops the current crop, and reports the crops in
 * input-image coordinates.
 */
import type { Crop } from '#commons/workflows/node-data.ts';
import { outputOf } from '#commons/workflows/node-data.ts';
import type { Operator } from '#commons/workflows/operator.ts';
import { toPixelRect } from '../shared/geometry.ts';
import { loadSourceImage, safeKeySegment, writeCrop } from '../shared/images.ts';
import { ParamReader } from '../shared/params.ts';
import { ranUpstream } from '../shared/upstream.ts';

export interface ImageCropParams {
  /**
   * Added on each side, as a fraction of the region's own width (left and right) and height
   * (top and bottom): 0.1 grows a 200 x 40 pixel region to 240 x 48.
   */
  margin: number;
}

// Larger margins would make a crop mostly background, because 1 already triples its width and height.
const MAX_MARGIN = 1;

export const imageCrop: Operator<ImageCropParams> = {
  typeId: 'image-crop',
  description: 'Cuts one crop out of the image per upstream region, with an optional margin, for downstream models to run on.',
  inputKinds: ['regions'],
  outputKind: 'crops',

  validateParams(raw) {
    const params = new ParamReader('image-crop', raw);
    // NOTE: Clarifai's documentation does not give the unit of its cropper's margin. Percept
    // uses a fraction of the region's size, which works the same for every image size.
    const margin = params.number(
      'margin',
      0,
      { min: 0, max: MAX_MARGIN },
      "the space added on each side as a fraction of the region's width and height",
    );
    params.rejectUnknownKeys();
    return { margin };
  },

  async run(event, params) {
    // A region without concepts is not a detection: the engine adds one for each crop on
    // which a per-crop detector found nothing.
    const regions = ranUpstream(event)
      .flatMap((output) => output.data.regions ?? [])
      .filter((region) => region.data.concepts.length > 0);
    if (regions.length === 0) {
      return outputOf(event, { data: { regions: [] }, crops: [] });
    }

    const source = await loadSourceImage(event);
    const crops: Crop[] = [];
    for (const region of regions) {
      const rect = toPixelRect(region.region_info.bounding_box, source.image.width, source.image.height, params.margin);
      const { region_info: _box, ...rest } = region;
      crops.push(await writeCrop(event, source, rect, `crop-${safeKeySegment(region.id)}.png`, rest));
    }
    return outputOf(event, { data: { regions }, crops });
  },
};

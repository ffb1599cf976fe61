import sharp from 'sharp';
import { predict } from '#commons/models/index.ts';
import type { DecodedImage } from '#commons/image/types.ts';
async function load(name: string): Promise<DecodedImage> {
  const { data, info } = await sharp(`test/fixtures/images/${name}`).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { pixels: data, width: info.width, height: info.height, format: info.format };
}
for (const name of ['page.png', 'text.png', 'chelsea.jpg', 'coffee.jpg', 'astronaut.jpg', 'rocket.jpg']) {
  const img = await load(name);
  console.log(name, img.width, img.height, img.pixels.length / img.width / img.height);
  const [out] = await predict('ocr-text-detector', [img]);
  for (const r of out!.regions!) {
    const b = r.region_info.bounding_box;
    console.log('  ', r.value!.toFixed(3), [b.top_row * img.height, b.left_col * img.width, b.bottom_row * img.height, b.right_col * img.width].map((v) => v.toFixed(0)).join(' '));
  }
}

import sharp from 'sharp';
import { getModel } from '#commons/models/index.ts';
import { prepareInput, toFeeds } from '#commons/models/preprocess.ts';
import { runSession } from '#commons/models/runtime.ts';
import { findTextBoxes } from '#commons/models/decoders/text-probability-map.ts';
const name = process.argv[2] ?? 'text.png';
for (const scale of [1, 1.5, 2, 3, 4]) {
  for (const order of ['BGR', 'RGB'] as const) {
    const { data, info } = await sharp(`test/fixtures/images/${name}`).resize(Math.round(448*scale)).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    const base = getModel('ocr-text-detector');
    const m = { ...base, input: { ...base.input, channel_order: order, resize: { mode: 'long-side-multiple' as const, max_side: 4000, multiple: 32 } } };
    const p = await prepareInput(m, { pixels: data, width: info.width, height: info.height, format: 'png' });
    const out = await runSession(m.id, toFeeds(m, [p]));
    const t = out['sigmoid_0.tmp_0']!;
    const map = t.data as Float32Array;
    let max = 0; for (const v of map) max = Math.max(max, v);
    const boxes = findTextBoxes(map, t.dims[3]!, t.dims[2]!, base.output as any);
    console.log(scale, order, info.width, info.height, max.toFixed(3), boxes.length);
  }
}

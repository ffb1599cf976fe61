import sharp from 'sharp';
import { getModel } from '#commons/models/index.ts';
import { prepareInput, toFeeds } from '#commons/models/preprocess.ts';
import { runSession } from '#commons/models/runtime.ts';
import { findTextBoxes } from '#commons/models/decoders/text-probability-map.ts';
const base = getModel('ocr-text-detector');
for (const name of ['page.png', 'text.png', 'chelsea.jpg', 'coffee.jpg', 'astronaut.jpg', 'rocket.jpg']) {
  const { data, info } = await sharp(`test/fixtures/images/${name}`).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  for (const target of [0, 480, 640, 736]) {
    const short = Math.min(info.width, info.height);
    const scale = Math.max(1, target / short);
    const w = Math.round(info.width * scale), h = Math.round(info.height * scale);
    const px = scale === 1 ? data : (await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } }).resize(w, h, { kernel: 'linear' }).raw().toBuffer());
    const m = { ...base, input: { ...base.input, resize: { mode: 'long-side-multiple' as const, max_side: 4000, multiple: 32 } } };
    const p = await prepareInput(m, { pixels: px, width: w, height: h, format: 'png' });
    const t0 = performance.now();
    const out = await runSession(m.id, toFeeds(m, [p]));
    const ms = performance.now() - t0;
    const t = out['sigmoid_0.tmp_0']!;
    const boxes = findTextBoxes(t.data as Float32Array, t.dims[3]!, t.dims[2]!, base.output as any);
    console.log(name, target, `${p.geometry.inputWidth}x${p.geometry.inputHeight}`, boxes.length, ms.toFixed(0) + 'ms', boxes.slice(0, 12).map(b => b.score.toFixed(2)).join(','));
  }
}

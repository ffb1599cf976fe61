import sharp from 'sharp';
import { predict } from '#commons/models/index.ts';
async function crop(left: number, top: number, width: number, height: number, rotate: boolean) {
  let s = sharp('test/fixtures/images/page.png').extract({ left, top, width, height });
  if (rotate) s = sharp(await s.png().toBuffer()).rotate(180);
  const { data, info } = await s.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { pixels: data, width: info.width, height: info.height, format: 'png' };
}
const crops: Array<[number, number, number, number]> = [[3, 64, 376, 22], [3, 64, 120, 22], [3, 64, 88, 22], [3, 47, 376, 19], [7, 13, 283, 21], [7, 13, 130, 21], [2, 112, 174, 29], [100, 81, 200, 24]];
for (const c of crops) {
  const outs = await predict('ocr-text-orientation', [await crop(...c, false), await crop(...c, true)]);
  console.log(c.join(','), outs.map((o) => o.concepts!.map((x) => `${x.id}=${x.value.toFixed(3)}`).join(' ')).join(' | '));
}

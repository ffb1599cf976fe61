import sharp from 'sharp';
const { data, info } = await sharp('test/fixtures/images/page.png').greyscale().raw().toBuffer({ resolveWithObject: true });
for (let y = 0; y < info.height; y++) {
  let dark = 0; let minx = -1, maxx = -1;
  for (let x = 0; x < info.width; x++) if (data[y * info.width + x]! < 90) { dark++; if (minx < 0) minx = x; maxx = x; }
  console.log(y, dark, minx, maxx, '#'.repeat(Math.round(dark / 4)));
}

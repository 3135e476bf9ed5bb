package dev.emloc.vision;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.stream.MemoryCacheImageOutputStream;

import org.junit.jupiter.api.Test;

class ImageDecoderTest {

    private final ImageDecoder decoder = ImageDecoder.withDefaults();

    @Test
    void pngWithAlphaIsCompositedOverWhiteWithPillowsRounding() throws IOException {
        BufferedImage image = new BufferedImage(4, 1, BufferedImage.TYPE_INT_ARGB);
        image.setRGB(0, 0, argb(255, 10, 20, 30));   // opaque: unchanged
        image.setRGB(1, 0, argb(0, 200, 100, 50));   // transparent: white
        image.setRGB(2, 0, argb(128, 0, 0, 0));      // half black: 127, see below
        image.setRGB(3, 0, argb(64, 255, 0, 100));
        RgbImage rgb = decoder.decode(encode(image, "png"));
        // Over opaque white, Pillow's coef1 = a * 128 and coef2 = 255 * 128 - coef1; a channel is
        // t = v * coef1 + 255 * coef2 + 128 * 128, then (((t >> 8) + t) >> 8) >> 7.
        // a = 128, v = 0: t = 255 * 16256 + 16384 = 4161664 -> (16256 + 4161664) >> 8 = 16320 -> >> 7 = 127.
        // a = 64: coef1 = 8192, coef2 = 24448; v = 0: t = 6250624 -> 24511 -> 191; v = 100: t = 7069824 -> 27724
        // -> 216; v = 255: t = 8339584 -> 32703 -> 255. (Pillow 9.4 gives the same.)
        assertThat(pixels(rgb)).containsExactly(10, 20, 30, 255, 255, 255, 127, 127, 127, 255, 191, 216);
    }

    @Test
    void compositingLeavesOpaquePixelsUnchanged() {
        for (int v = 0; v < 256; v++) {
            assertThat(ImageDecoder.overWhite(v, 255)).isEqualTo(v);
            assertThat(ImageDecoder.overWhite(v, 0)).isEqualTo(255);
        }
    }

    @Test
    void greyscalePngIsRepeatedIntoRgbWithoutGammaConversion() throws IOException {
        BufferedImage image = new BufferedImage(3, 1, BufferedImage.TYPE_BYTE_GRAY);
        image.getRaster().setPixels(0, 0, 3, 1, new int[] {0, 100, 255});
        // BufferedImage.getRGB would treat the samples as linear grey and return 0, 168, 255
        assertThat(pixels(decoder.decode(encode(image, "png")))).containsExactly(0, 0, 0, 100, 100, 100, 255, 255, 255);
    }

    @Test
    void sixteenBitGreyIsClippedAt255AsPillowDoes() throws IOException {
        ComponentColorModel model = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_GRAY), false, false,
                Transparency.OPAQUE, DataBuffer.TYPE_USHORT);
        WritableRaster raster = model.createCompatibleWritableRaster(3, 1);
        raster.setPixels(0, 0, 3, 1, new int[] {100, 255, 1000});
        BufferedImage image = new BufferedImage(model, raster, false, null);
        // Pillow opens 16-bit grey PNGs as 32-bit integers ("I") and clips them when converting to RGB
        assertThat(pixels(decoder.decode(encode(image, "png")))).containsExactly(100, 100, 100, 255, 255, 255, 255, 255, 255);
    }

    @Test
    void sixteenBitRgbKeepsTheHighByte() throws IOException {
        ComponentColorModel model = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_sRGB), false, false,
                Transparency.OPAQUE, DataBuffer.TYPE_USHORT);
        WritableRaster raster = model.createCompatibleWritableRaster(1, 1);
        raster.setPixel(0, 0, new int[] {0x12ff, 0xab00, 0xffff});
        BufferedImage image = new BufferedImage(model, raster, false, null);
        assertThat(pixels(decoder.decode(encode(image, "png")))).containsExactly(0x12, 0xab, 0xff);
    }

    @Test
    void paletteImagesAreLookedUpWithTheirTransparentEntryWhite() throws IOException {
        byte[] r = {(byte) 255, 0, 9};
        byte[] g = {0, (byte) 255, 9};
        byte[] b = {0, 0, 9};
        IndexColorModel palette = new IndexColorModel(8, 3, r, g, b, 2);
        BufferedImage image = new BufferedImage(3, 1, BufferedImage.TYPE_BYTE_INDEXED, palette);
        image.getRaster().setPixels(0, 0, 3, 1, new int[] {0, 1, 2});
        assertThat(pixels(decoder.decode(encode(image, "png")))).containsExactly(255, 0, 0, 0, 255, 0, 255, 255, 255);
        assertThat(pixels(decoder.decode(encode(image, "gif")))).containsExactly(255, 0, 0, 0, 255, 0, 255, 255, 255);
    }

    @Test
    void rgbPngColourKeyIsIgnoredAsHuggingFaceDoes() {
        // An RGB PNG with tRNS keying out (1, 2, 3). ImageIO decodes it with alpha; Pillow keeps mode RGB and
        // transformers' convert_to_rgb returns RGB images untouched, so the keyed pixel keeps its colour.
        byte[] scanline = {0, 1, 2, 3, 40, 50, 60};
        byte[] png = Png.build(2, 1, 8, 2, scanline, Png.chunk("tRNS", new byte[] {0, 1, 0, 2, 0, 3}));
        assertThat(pixels(decoder.decode(png))).containsExactly(1, 2, 3, 40, 50, 60);
    }

    @Test
    void jpegDecodesCloseToTheEncodedColours() throws IOException {
        BufferedImage image = new BufferedImage(16, 16, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) {
                image.setRGB(x, y, argb(255, 200, 100, 50));
            }
        }
        RgbImage rgb = decoder.decode(encode(image, "jpeg"));
        assertThat(rgb.size()).isEqualTo(new ImageSize(16, 16));
        // lossy: a flat colour survives within a few levels
        assertThat(rgb.sample(7, 7, 0)).isBetween(197, 203);
        assertThat(rgb.sample(7, 7, 1)).isBetween(97, 103);
        assertThat(rgb.sample(7, 7, 2)).isBetween(47, 53);
    }

    @Test
    void greyJpegIsRepeatedIntoRgb() throws IOException {
        BufferedImage image = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY);
        int[] samples = new int[64];
        Arrays.fill(samples, 77);
        image.getRaster().setPixels(0, 0, 8, 8, samples);
        RgbImage rgb = decoder.decode(encode(image, "jpeg"));
        assertThat(rgb.sample(3, 3, 0)).isBetween(75, 79);
        assertThat(rgb.sample(3, 3, 1)).isEqualTo(rgb.sample(3, 3, 0));
        assertThat(rgb.sample(3, 3, 2)).isEqualTo(rgb.sample(3, 3, 0));
    }

    @Test
    void gifGivesItsFirstFrame() throws IOException {
        byte[] gif = animatedGif(frame(255, 0, 0), frame(0, 0, 255));
        RgbImage rgb = decoder.decode(gif);
        assertThat(rgb.size()).isEqualTo(new ImageSize(2, 3));
        assertThat(rgb).isEqualTo(RgbImage.filled(3, 2, 255, 0, 0));
    }

    @Test
    void bmpRoundTripsExactly() throws IOException {
        BufferedImage image = new BufferedImage(5, 3, BufferedImage.TYPE_3BYTE_BGR);
        RgbImage pattern = BicubicResamplerTest.pattern(5, 3);
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 5; x++) {
                image.setRGB(x, y, argb(255, pattern.sample(x, y, 0), pattern.sample(x, y, 1), pattern.sample(x, y, 2)));
            }
        }
        assertThat(decoder.decode(encode(image, "bmp"))).isEqualTo(pattern);
        assertThat(decoder.decode(encode(image, "png"))).isEqualTo(pattern);
    }

    @Test
    void refusesBytesThatAreNoImage() {
        assertThatThrownBy(() -> decoder.decode("hello, not an image".getBytes(StandardCharsets.US_ASCII)))
                .isInstanceOf(ImageInputException.class)
                .hasMessageStartingWith("could not decode image: not PNG/JPEG/GIF/BMP")
                .hasMessageContaining("19 bytes starting with 68 65 6c 6c 6f 2c 20 6e");
        assertThatThrownBy(() -> decoder.decode(new byte[0]))
                .isInstanceOf(ImageInputException.class)
                .hasMessageContaining("no bytes were sent");
    }

    @Test
    void refusesOtherImageFormatsByName() throws IOException {
        byte[] tiff = encode(new BufferedImage(2, 2, BufferedImage.TYPE_3BYTE_BGR), "tiff");
        assertThatThrownBy(() -> decoder.decode(tiff))
                .isInstanceOf(ImageInputException.class)
                .hasMessage("could not decode image: TIF is not supported; send PNG, JPEG, GIF or BMP");
    }

    @Test
    void refusesZeroSizedImages() {
        assertThatThrownBy(() -> decoder.decode(Png.build(0, 5, 8, 2, new byte[0])))
                .isInstanceOf(ImageInputException.class)
                .hasMessageContaining("the PNG is empty");
    }

    @Test
    void refusesAHugeDeclaredSizeFromTheHeaderWithoutAllocatingIt() {
        // 100000 x 100000 RGB would be 30 GB; the file is a few dozen bytes
        byte[] bomb = Png.build(100_000, 100_000, 8, 2, new byte[1000]);
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        decoder.decode(Png.build(2, 1, 8, 2, new byte[7])); // warm up ImageIO's registry
        long before = threads.getCurrentThreadAllocatedBytes();
        assertThatThrownBy(() -> decoder.decode(bomb))
                .isInstanceOf(ImageInputException.class)
                .hasMessage("Image too large: the PNG declares 100000x100000 = 10000000000 pixels, more than the limit of"
                        + " 50000000; downscale it before sending or raise maxInputPixels");
        assertThat(threads.getCurrentThreadAllocatedBytes() - before).isLessThan(16L << 20);
    }

    @Test
    void appliesAConfiguredPixelLimit() throws IOException {
        byte[] png = encode(new BufferedImage(20, 20, BufferedImage.TYPE_3BYTE_BGR), "png");
        ImageDecoder strict = new ImageDecoder(VisionLimits.builder().maxInputPixels(399).build());
        assertThatThrownBy(() -> strict.decode(png))
                .isInstanceOf(ImageInputException.class)
                .hasMessageContaining("20x20 = 400 pixels, more than the limit of 399");
        assertThat(new ImageDecoder(VisionLimits.builder().maxInputPixels(400).build()).decode(png).size())
                .isEqualTo(new ImageSize(20, 20));
    }

    @Test
    void refusesTruncatedData() throws IOException {
        BufferedImage image = new BufferedImage(64, 64, BufferedImage.TYPE_3BYTE_BGR);
        RgbImage noise = BicubicResamplerTest.pattern(64, 64);
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 64; x++) {
                image.setRGB(x, y, argb(255, noise.sample(x, y, 0), noise.sample(x, y, 1), noise.sample(x, y, 2)));
            }
        }
        for (String format : List.of("png", "jpeg")) {
            byte[] whole = encode(image, format);
            byte[] half = Arrays.copyOf(whole, whole.length / 2);
            assertThatThrownBy(() -> decoder.decode(half))
                    .as(format)
                    .isInstanceOf(ImageInputException.class)
                    .hasMessageContaining("data is corrupt or truncated");
        }
    }

    @Test
    void refusesTooManyImagesInOneRequest() throws IOException {
        byte[] png = encode(new BufferedImage(2, 2, BufferedImage.TYPE_3BYTE_BGR), "png");
        assertThat(decoder.decodeAll(Collections.nCopies(16, png))).hasSize(16);
        assertThatThrownBy(() -> decoder.decodeAll(Collections.nCopies(17, png)))
                .isInstanceOf(ImageInputException.class)
                .hasMessage("Too many images in one request: 17, at most 16 are allowed; send fewer images or raise"
                        + " maxImagesPerRequest");
    }

    private static int argb(int a, int r, int g, int b) {
        return a << 24 | r << 16 | g << 8 | b;
    }

    private static int[] pixels(RgbImage image) {
        int[] values = new int[image.rgb().length];
        for (int i = 0; i < values.length; i++) {
            values[i] = image.rgb()[i] & 0xff;
        }
        return values;
    }

    private static byte[] encode(BufferedImage image, String format) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (!ImageIO.write(image, format, out)) {
            throw new IllegalStateException("no ImageIO writer for " + format);
        }
        return out.toByteArray();
    }

    private static BufferedImage frame(int r, int g, int b) {
        IndexColorModel palette = new IndexColorModel(8, 1, new byte[] {(byte) r}, new byte[] {(byte) g}, new byte[] {(byte) b});
        return new BufferedImage(3, 2, BufferedImage.TYPE_BYTE_INDEXED, palette);
    }

    private static byte[] animatedGif(BufferedImage... frames) throws IOException {
        ImageWriter writer = ImageIO.getImageWritersByFormatName("gif").next();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MemoryCacheImageOutputStream out = new MemoryCacheImageOutputStream(bytes)) {
            writer.setOutput(out);
            writer.prepareWriteSequence(null);
            for (BufferedImage frame : frames) {
                IIOMetadata metadata = writer.getDefaultImageMetadata(new ImageTypeSpecifier(frame), null);
                writer.writeToSequence(new IIOImage(frame, null, metadata), null);
            }
            writer.endWriteSequence();
        } finally {
            writer.dispose();
        }
        return bytes.toByteArray();
    }

    /** Hand-built PNG files, for headers ImageIO would refuse to write. */
    static final class Png {

        static byte[] build(int width, int height, int bitDepth, int colourType, byte[] scanlines, byte[]... extraChunks) {
            ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
            DataOutputStream header = new DataOutputStream(ihdr);
            List<byte[]> chunks = new ArrayList<>();
            try {
                header.writeInt(width);
                header.writeInt(height);
                header.write(new byte[] {(byte) bitDepth, (byte) colourType, 0, 0, 0});
                chunks.add(chunk("IHDR", ihdr.toByteArray()));
                chunks.addAll(List.of(extraChunks));
                chunks.add(chunk("IDAT", deflate(scanlines)));
                chunks.add(chunk("IEND", new byte[0]));
                ByteArrayOutputStream png = new ByteArrayOutputStream();
                png.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
                for (byte[] chunk : chunks) {
                    png.write(chunk);
                }
                return png.toByteArray();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        static byte[] chunk(String type, byte[] data) {
            try {
                ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                DataOutputStream out = new DataOutputStream(bytes);
                out.writeInt(data.length);
                byte[] typeAndData = new byte[4 + data.length];
                System.arraycopy(type.getBytes(StandardCharsets.US_ASCII), 0, typeAndData, 0, 4);
                System.arraycopy(data, 0, typeAndData, 4, data.length);
                out.write(typeAndData);
                CRC32 crc = new CRC32();
                crc.update(typeAndData);
                out.writeInt((int) crc.getValue());
                return bytes.toByteArray();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        private static byte[] deflate(byte[] data) {
            Deflater deflater = new Deflater();
            deflater.setInput(data);
            deflater.finish();
            byte[] buffer = new byte[data.length + 64];
            int length = deflater.deflate(buffer);
            deflater.end();
            return Arrays.copyOf(buffer, length);
        }
    }
}

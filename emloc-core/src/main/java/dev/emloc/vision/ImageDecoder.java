package dev.emloc.vision;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * Decodes PNG, JPEG, GIF (first frame) and BMP bytes into {@link RgbImage}s the way Hugging Face's
 * {@code convert_to_rgb} sees them after Pillow opens them.
 *
 * <ul>
 *   <li>Samples are taken as stored, without colour management: greyscale is repeated into R, G and B (not
 *       converted from linear grey, which is what {@code BufferedImage.getRGB} would do), embedded ICC profiles
 *       are ignored, palettes are looked up. Pillow does the same.</li>
 *   <li>Transparency is composited over opaque white with Pillow's integer {@code alpha_composite} formula, so
 *       a half-transparent black pixel becomes 127, as in Hugging Face.</li>
 *   <li>16-bit samples keep their high byte, except plain 16-bit grey, which Pillow clips at 255.</li>
 *   <li>The {@code tRNS} colour key of an RGB PNG is ignored, as Hugging Face ignores it.</li>
 *   <li>The pixel count is read from the header and checked against {@link VisionLimits#maxInputPixels()}
 *       before the raster is decoded, so a small file declaring a huge image is refused without allocating.</li>
 * </ul>
 * CMYK JPEGs are converted with Pillow's naive formula (no ICC profile). WebP and TIFF are not supported. Thread-safe: every call uses its own reader.
 */
public final class ImageDecoder {

    /** ImageIO format names accepted, lower case. */
    private static final Set<String> FORMATS = Set.of("png", "jpeg", "gif", "bmp");
    private static final String SUPPORTED = "PNG, JPEG, GIF or BMP";

    private final VisionLimits limits;

    public ImageDecoder(VisionLimits limits) {
        this.limits = Objects.requireNonNull(limits, "limits");
    }

    /** A decoder with {@link VisionLimits#defaults()}. */
    public static ImageDecoder withDefaults() {
        return new ImageDecoder(VisionLimits.defaults());
    }

    public VisionLimits limits() {
        return limits;
    }

    /** Decodes the images of one request, refusing more than {@link VisionLimits#maxImagesPerRequest()}. */
    public List<RgbImage> decodeAll(List<byte[]> encodedImages) {
        limits.checkImageCount(encodedImages.size());
        List<RgbImage> images = new ArrayList<>(encodedImages.size());
        for (byte[] encoded : encodedImages) {
            images.add(decode(encoded));
        }
        return images;
    }

    /**
     * Decodes one image (the first frame of a GIF) to RGB.
     *
     * @throws ImageInputException if the bytes are not a supported image, are corrupt, or declare an empty image
     *                             or more pixels than allowed
     */
    public RgbImage decode(byte[] encoded) {
        if (encoded == null || encoded.length == 0) {
            throw new ImageInputException("could not decode image: no bytes were sent; send " + SUPPORTED + " data");
        }
        try (ImageInputStream input = new MemoryCacheImageInputStream(new ByteArrayInputStream(encoded))) {
            ImageReader reader = readerFor(input, encoded);
            String format = formatName(reader).toUpperCase(Locale.ROOT);
            try {
                reader.setInput(input, true, true);
                int width;
                int height;
                try {
                    width = reader.getWidth(0);
                    height = reader.getHeight(0);
                } catch (IOException | RuntimeException e) {
                    if (declaresNoPixels(format, encoded)) {
                        throw empty(format, "0 pixels");
                    }
                    throw new ImageInputException("could not decode image: the " + format + " header is invalid ("
                            + e.getMessage() + "); send an intact " + SUPPORTED + " file", e);
                }
                if (width <= 0 || height <= 0) {
                    throw empty(format, width + "x" + height + " pixels");
                }
                limits.checkInputPixels(format, width, height);
                List<String> truncations = new ArrayList<>();
                reader.addIIOReadWarningListener((source, warning) -> {
                    if (warning != null && warning.toLowerCase(Locale.ROOT).contains("premature end")) {
                        truncations.add(warning);
                    }
                });
                BufferedImage image;
                try {
                    image = reader.read(0);
                } catch (IOException | RuntimeException e) {
                    throw corrupt(format, e.getMessage(), e);
                }
                if (!truncations.isEmpty()) {
                    // ImageIO pads a cut-off JPEG with grey; Pillow refuses it ("image file is truncated").
                    throw corrupt(format, truncations.get(0), null);
                }
                return toRgb(image, !isRgbPng(format, encoded));
            } finally {
                reader.dispose();
            }
        } catch (IOException e) {
            throw new ImageInputException("could not decode image: " + e.getMessage(), e);
        }
    }

    private static ImageInputException empty(String format, String size) {
        return new ImageInputException("could not decode image: the " + format + " is empty (" + size
                + "); send an image with at least one pixel");
    }

    private static ImageInputException corrupt(String format, String detail, Throwable cause) {
        return new ImageInputException("could not decode image: the " + format + " data is corrupt or truncated (" + detail
                + "); send an intact " + SUPPORTED + " file", cause);
    }

    /** Whether a PNG or BMP header declares a width or height of 0 (ImageIO reports those as unreadable headers). */
    static boolean declaresNoPixels(String format, byte[] encoded) {
        ByteBuffer header = ByteBuffer.wrap(encoded);
        if (format.equals("PNG") && encoded.length >= 24) {
            return header.getInt(16) == 0 || header.getInt(20) == 0;
        }
        if (format.equals("BMP") && encoded.length >= 26) {
            header.order(ByteOrder.LITTLE_ENDIAN);
            boolean core = header.getInt(14) == 12; // OS/2 BITMAPCOREHEADER: 16-bit sizes
            return core ? header.getShort(18) == 0 || header.getShort(20) == 0
                    : header.getInt(18) == 0 || header.getInt(22) == 0;
        }
        return false;
    }

    private static ImageReader readerFor(ImageInputStream input, byte[] encoded) {
        Iterator<ImageReader> readers = ImageIO.getImageReaders(input);
        String other = null;
        while (readers.hasNext()) {
            ImageReader reader = readers.next();
            String name = formatName(reader);
            if (FORMATS.contains(name)) {
                return reader;
            }
            if (other == null) {
                other = name.toUpperCase(Locale.ROOT);
            }
            reader.dispose();
        }
        if (other != null && !other.equals("WBMP")) {
            throw new ImageInputException("could not decode image: " + other + " is not supported; send " + SUPPORTED);
        }
        int shown = Math.min(encoded.length, 8);
        throw new ImageInputException("could not decode image: not " + SUPPORTED.replace(", ", "/").replace(" or ", "/")
                + " (" + encoded.length + " bytes starting with " + HexFormat.ofDelimiter(" ").formatHex(encoded, 0, shown)
                + "); WebP, TIFF and other formats must be converted first");
    }

    private static String formatName(ImageReader reader) {
        return reader.getOriginatingProvider().getFormatNames()[0].toLowerCase(Locale.ROOT);
    }

    /**
     * Whether the bytes are a PNG of colour type 2 (RGB). Pillow opens it in mode RGB, keeping a {@code tRNS}
     * colour key only as metadata, and Hugging Face's {@code convert_to_rgb} returns RGB images untouched, so
     * the key is ignored there; ImageIO turns it into alpha, which must then be dropped.
     */
    private static boolean isRgbPng(String format, byte[] encoded) {
        // signature (8), IHDR length (4) and type (4), width (4), height (4), bit depth (1), colour type (1)
        return format.equals("PNG") && encoded.length > 25 && encoded[25] == 2;
    }

    /**
     * The image as 8-bit RGB, alpha composited over white.
     *
     * @param useAlpha whether an alpha channel is composited (otherwise ignored)
     */
    static RgbImage toRgb(BufferedImage image, boolean useAlpha) {
        int width = image.getWidth();
        int height = image.getHeight();
        byte[] rgb = new byte[width * height * 3]; // (height, width, 3)
        ColorModel model = image.getColorModel();
        Raster raster = image.getRaster();
        if (model instanceof IndexColorModel palette && raster.getNumBands() == 1) {
            copyIndexed(raster, palette, rgb);
        } else if (model.getColorSpace().getType() == ColorSpace.TYPE_CMYK && raster.getNumBands() == 4
                && raster.getTransferType() == DataBuffer.TYPE_BYTE) {
            copyCmyk(raster, rgb);
        } else if (model instanceof ComponentColorModel && !model.isAlphaPremultiplied() && isPlainSamples(model, raster)) {
            copyComponents(raster, model, useAlpha, rgb);
        } else {
            copyConverted(image, useAlpha, rgb);
        }
        return new RgbImage(width, height, rgb);
    }

    private static boolean isPlainSamples(ColorModel model, Raster raster) {
        int type = model.getColorSpace().getType();
        int colourBands = type == ColorSpace.TYPE_GRAY ? 1 : type == ColorSpace.TYPE_RGB ? 3 : -1;
        int transfer = raster.getTransferType();
        return colourBands > 0 && raster.getNumBands() == colourBands + (model.hasAlpha() ? 1 : 0)
                && (transfer == DataBuffer.TYPE_BYTE || transfer == DataBuffer.TYPE_USHORT);
    }

    private static void copyIndexed(Raster raster, IndexColorModel palette, byte[] rgb) {
        int width = raster.getWidth();
        int[] argb = new int[palette.getMapSize()];
        palette.getRGBs(argb);
        int[] row = new int[width];
        for (int y = 0; y < raster.getHeight(); y++) {
            raster.getPixels(0, y, width, 1, row);
            int o = y * width * 3;
            for (int x = 0; x < width; x++, o += 3) {
                int index = row[x];
                int colour = index < argb.length ? argb[index] : 0xff000000;
                put(rgb, o, (colour >> 16) & 0xff, (colour >> 8) & 0xff, colour & 0xff, colour >>> 24);
            }
        }
    }

    /**
     * Grey, grey+alpha, RGB or RGBA samples (8 or 16 bits) in colour-model band order. 16-bit samples keep their
     * high byte, except plain 16-bit grey: Pillow opens it as 32-bit integers, which its conversion to RGB clips
     * at 255 rather than scales.
     */
    private static void copyComponents(Raster raster, ColorModel model, boolean useAlpha, byte[] rgb) {
        int width = raster.getWidth();
        int bands = raster.getNumBands();
        boolean grey = model.getColorSpace().getType() == ColorSpace.TYPE_GRAY;
        boolean alpha = model.hasAlpha();
        boolean wide = raster.getTransferType() == DataBuffer.TYPE_USHORT;
        if (grey && wide && !alpha) {
            copyClippedGrey(raster, rgb);
            return;
        }
        int shift = wide ? 8 : 0;
        int[] row = new int[width * bands];
        for (int y = 0; y < raster.getHeight(); y++) {
            raster.getPixels(0, y, width, 1, row);
            int o = y * width * 3;
            for (int x = 0, i = 0; x < width; x++, i += bands, o += 3) {
                int r = row[i] >> shift;
                int g = grey ? r : row[i + 1] >> shift;
                int b = grey ? r : row[i + 2] >> shift;
                int a = alpha && useAlpha ? row[i + bands - 1] >> shift : 255;
                put(rgb, o, r, g, b, a);
            }
        }
    }

    /** Pillow's {@code cmyk2rgb}: {@code nk - nk * c / 255} with {@code nk = 255 - k}, no colour management. */
    private static void copyCmyk(Raster raster, byte[] rgb) {
        int width = raster.getWidth();
        int[] row = new int[width * 4];
        for (int y = 0; y < raster.getHeight(); y++) {
            raster.getPixels(0, y, width, 1, row);
            int o = y * width * 3;
            for (int x = 0, i = 0; x < width; x++, i += 4, o += 3) {
                int nk = 255 - row[i + 3];
                put(rgb, o, nk - mulDiv255(row[i], nk), nk - mulDiv255(row[i + 1], nk), nk - mulDiv255(row[i + 2], nk), 255);
            }
        }
    }

    /** {@code a * b / 255} rounded, as Pillow's {@code MULDIV255}. */
    private static int mulDiv255(int a, int b) {
        int tmp = a * b + 128;
        return ((tmp >> 8) + tmp) >> 8;
    }

    private static void copyClippedGrey(Raster raster, byte[] rgb) {
        int width = raster.getWidth();
        int[] row = new int[width];
        for (int y = 0; y < raster.getHeight(); y++) {
            raster.getPixels(0, y, width, 1, row);
            int o = y * width * 3;
            for (int x = 0; x < width; x++, o += 3) {
                int v = Math.min(row[x], 255);
                put(rgb, o, v, v, v, 255);
            }
        }
    }

    /** Anything else (packed RGB of a BMP, custom layouts) through the colour model's sRGB conversion. */
    private static void copyConverted(BufferedImage image, boolean useAlpha, byte[] rgb) {
        int width = image.getWidth();
        int[] row = new int[width];
        for (int y = 0; y < image.getHeight(); y++) {
            image.getRGB(0, y, width, 1, row, 0, width);
            int o = y * width * 3;
            for (int x = 0; x < width; x++, o += 3) {
                int colour = row[x];
                put(rgb, o, (colour >> 16) & 0xff, (colour >> 8) & 0xff, colour & 0xff, useAlpha ? colour >>> 24 : 255);
            }
        }
    }

    private static void put(byte[] rgb, int offset, int r, int g, int b, int a) {
        if (a != 255) {
            r = overWhite(r, a);
            g = overWhite(g, a);
            b = overWhite(b, a);
        }
        rgb[offset] = (byte) r;
        rgb[offset + 1] = (byte) g;
        rgb[offset + 2] = (byte) b;
    }

    /**
     * One channel of Pillow's {@code ImagingAlphaComposite} of a pixel over opaque white: with 7 extra bits,
     * {@code coef1 = a * 255 * 255 * 128 / outa255} (here {@code a * 128}), and divisions by 255 done as
     * {@code ((v >> 8) + v) >> 8}. A fully transparent pixel is white.
     */
    static int overWhite(int value, int alpha) {
        if (alpha == 0) {
            return 255;
        }
        int outa255 = alpha * 255 + 255 * (255 - alpha);
        int coef1 = alpha * 255 * 255 * (1 << 7) / outa255;
        int coef2 = 255 * (1 << 7) - coef1;
        int tmp = value * coef1 + 255 * coef2 + (0x80 << 7);
        return (((tmp >> 8) + tmp) >> 8) >> 7;
    }
}

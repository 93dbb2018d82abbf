import CImage
import Foundation
import ScalpelCore

/// An 8-bit RGB image, row-major [height, width, 3].
public struct RGBImage {
    public let width: Int, height: Int
    public let pixels: [UInt8]

    /// Decodes a PNG or JPEG file; errors name the file.
    public init(path: String) throws {
        try InputFile.requireRegular(path)
        var data: UnsafeMutablePointer<UInt8>?
        var w: Int32 = 0, h: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = sc_decode_image(path, &data, &w, &h, &message, message.count)
        guard status == 0, let data else {
            throw ScalpelError.invalidFile(path: path, reason: String(cString: message))
        }
        defer { free(data) }
        width = Int(w); height = Int(h)
        pixels = Array(UnsafeBufferPointer(start: data, count: width * height * 3))
    }

    public init(width: Int, height: Int, pixels: [UInt8]) {
        self.width = width; self.height = height; self.pixels = pixels
    }

    /// PIL's bilinear resize (`Image.resize(size, BILINEAR)`), to the byte.
    public func resized(width w: Int, height h: Int) -> RGBImage {
        var out = [UInt8](repeating: 0, count: w * h * 3)
        pixels.withUnsafeBufferPointer { src in
            sc_resize_bilinear(src.baseAddress, Int32(width), Int32(height), &out, Int32(w), Int32(h))
        }
        return RGBImage(width: w, height: h, pixels: out)
    }
}

/// `preprocessor_config.json` of an image model (ViT's image processor): resize, rescale, normalize.
public struct ImagePreprocessor {
    public var resize: (width: Int, height: Int)?
    public var rescale: Float?
    public var mean: [Float]?
    public var std: [Float]?

    public init(resize: (width: Int, height: Int)?, rescale: Float?, mean: [Float]?, std: [Float]?) {
        self.resize = resize; self.rescale = rescale; self.mean = mean; self.std = std
    }

    /// Reads the file; unsupported settings (another resample filter, shortest-edge sizes) are errors naming the field.
    public init(path: String) throws {
        let json = try InputFile.jsonObject(path, limit: 1 << 20)
        let c = ConfigReader(json: json, path: path)
        if try c.bool("do_resize", true) {
            guard let size = json["size"] as? [String: Any], let h = size["height"] as? Int, let w = size["width"] as? Int else {
                throw ScalpelError.unsupported(
                    path: path, field: "size", value: "\(json["size"] ?? "nil")", supported: ["{\"height\": H, \"width\": W}"])
            }
            let resample = try c.int("resample", 2)
            guard resample == 2 else {
                throw ScalpelError.unsupported(path: path, field: "resample", value: "\(resample)", supported: ["2 (bilinear)"])
            }
            resize = (w, h)
        }
        if try c.bool("do_rescale", true) { rescale = Float(try c.double("rescale_factor", 1.0 / 255)) }
        if try c.bool("do_normalize", true) {
            mean = (json["image_mean"] as? [Double] ?? [0.5, 0.5, 0.5]).map { Float($0) }
            std = (json["image_std"] as? [Double] ?? [0.5, 0.5, 0.5]).map { Float($0) }
        }
    }

    /// pixel values [3, H, W] (channel-first, Float32), as the image processor computes them.
    public func pixelValues(_ image: RGBImage) -> Tensor {
        let img = resize.map { image.resized(width: $0.width, height: $0.height) } ?? image
        let hw = img.width * img.height
        let out = Tensor(zeros: [3, img.height, img.width])
        for i in 0..<hw {
            for c in 0..<3 {
                var v = Float(img.pixels[i * 3 + c])
                if let rescale { v *= rescale }
                if let mean, let std { v = (v - mean[c]) / std[c] }
                out.pointer[c * hw + i] = v
            }
        }
        return out
    }
}

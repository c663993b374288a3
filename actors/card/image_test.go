package card

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/kaquan/kaquan/actors"
	"golang.org/x/image/webp"
)

// There is no WebP encoder in Go, so the WebP samples are byte literals.
var (
	// webpLossless is an 8 x 4 lossless (VP8L) checkerboard of red and yellow, made by hand: a
	// 5-byte header (signature 0x2f, width-1 and height-1 in 14 bits each), no transform, no color
	// cache, then five simple prefix codes (green 0x00 or 0xff, red 0xff, blue 0, alpha 0xff,
	// distance 0) and one bit a pixel from byte 31 of the file on.
	webpLossless = []byte("RIFF\x1c\x00\x00\x00WEBPVP8L\x10\x00\x00\x00" +
		"\x2f\x07\xc0\x00\x00\x38\xc0\x7f\xff\xa3\xff\xa1\x5a\xa5\x5a\x05")
	// webpLossy and webpAlpha are the 1 x 1 lossy (VP8) and lossy-with-alpha (VP8X, ALPH, VP8)
	// samples that Google's WebP FAQ gives for detecting browser support.
	webpLossy = b64("UklGRiIAAABXRUJQVlA4IBYAAAAwAQCdASoBAAEADsD+JaQAA3AAAAAA")
	webpAlpha = b64("UklGRkoAAABXRUJQVlA4WAoAAAAQAAAAAAAAAAAAQUxQSAwAAAARBxAR/Q9ERP8DAABWUDggGAAAABQBAJ0BKgEAAQAAAP4AAA3AAP7mtQAAAA==")
)

func b64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func noise(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
	}
	return img
}

func gray(w, h int) *image.Gray { return image.NewGray(image.Rect(0, 0, w, h)) }

func encPNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// encGIF encodes frames, the first one's bounds being the logical screen.
func encGIF(t testing.TB, frames ...*image.Paletted) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, &gif.GIF{Image: frames, Delay: make([]int, len(frames))}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func paletted(r image.Rectangle) *image.Paletted {
	p := image.NewPaletted(r, palette.Plan9)
	for i := range p.Pix {
		p.Pix[i] = uint8(i)
	}
	return p
}

// pngChunk returns the offsets of the data of data's first chunk of type typ, and of its CRC.
func pngChunk(t testing.TB, data []byte, typ string) (start, end int) {
	t.Helper()
	for i := 8; i+12 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[i:]))
		if string(data[i+4:i+8]) == typ {
			return i + 8, i + 8 + n
		}
		i += 12 + n
	}
	t.Fatalf("no %s chunk", typ)
	return 0, 0
}

// pngFixCRC recomputes the CRC of the chunk whose data is data[start:end].
func pngFixCRC(data []byte, start, end int) {
	binary.BigEndian.PutUint32(data[end:], crc32.ChecksumIEEE(data[start-4:end]))
}

// pngSized is a small PNG whose header declares w x h pixels, with a valid IHDR checksum.
func pngSized(t testing.TB, w, h uint32) []byte {
	p := encPNG(t, gray(1, 1))
	start, end := pngChunk(t, p, "IHDR")
	binary.BigEndian.PutUint32(p[start:], w)
	binary.BigEndian.PutUint32(p[start+4:], h)
	pngFixCRC(p, start, end)
	return p
}

// jpegSegment returns the offset of data's first marker m (0xff, m), walking the segments.
func jpegSegment(t testing.TB, data []byte, m byte) int {
	t.Helper()
	for i := 2; i+4 <= len(data) && data[i] == 0xff; i += 2 + int(binary.BigEndian.Uint16(data[i+2:])) {
		if data[i+1] == m {
			return i
		}
	}
	t.Fatalf("no marker 0x%x", m)
	return 0
}

// gifFrame returns the offset of the image descriptor of data's frame at left, top.
func gifFrame(t testing.TB, data []byte, left, top, w, h uint16) int {
	t.Helper()
	d := binary.LittleEndian.AppendUint16([]byte{0x2c}, left)
	d = binary.LittleEndian.AppendUint16(d, top)
	d = binary.LittleEndian.AppendUint16(d, w)
	d = binary.LittleEndian.AppendUint16(d, h)
	i := bytes.LastIndex(data, d)
	if i < 0 {
		t.Fatal("no such frame")
	}
	return i
}

// gifFrameData returns the offset of the first LZW sub-block (its size byte) of the frame at i.
func gifFrameData(data []byte, i int) int {
	p := i + 10 // descriptor
	if flags := data[i+9]; flags&0x80 != 0 {
		p += 3 << (1 + flags&7) // local color table
	}
	return p + 1 // LZW code width
}

// webpVP8X is a WebP of a VP8X chunk declaring a w x h canvas, followed by chunks.
func webpVP8X(w, h uint32, chunks ...[]byte) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00")
	b = append(b, byte(w-1), byte((w-1)>>8), byte((w-1)>>16), byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
	for _, c := range chunks {
		b = append(b, c...)
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

func pad(data []byte, n int) []byte {
	return append(append([]byte(nil), data...), make([]byte, n-len(data))...)
}

// allocated returns the bytes that f allocated on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) || !errors.Is(err, actors.ErrInvalidArgument) {
		t.Fatalf("got %v, want %v", err, want)
	}
	if errors.Is(err, actors.ErrImageInvalid) && errors.Is(err, actors.ErrImageTooLarge) {
		t.Fatalf("%v is both invalid and too large", err)
	}
}

func TestImage_WebPSamplesDecode(t *testing.T) {
	m, err := webp.Decode(bytes.NewReader(webpLossless))
	if err != nil {
		t.Fatal(err)
	}
	if m.Bounds() != image.Rect(0, 0, 8, 4) {
		t.Fatalf("bounds %v, want 8 x 4", m.Bounds())
	}
	red, yellow := color.NRGBA{0xff, 0, 0, 0xff}, color.NRGBA{0xff, 0xff, 0, 0xff}
	for y := range 4 {
		for x := range 8 {
			want := red
			if (x+y)%2 == 1 {
				want = yellow
			}
			if got := color.NRGBAModel.Convert(m.At(x, y)); got != want {
				t.Fatalf("pixel %d,%d is %v, want %v", x, y, got, want)
			}
		}
	}
	for _, s := range [][]byte{webpLossy, webpAlpha} {
		if m, err := webp.Decode(bytes.NewReader(s)); err != nil || m.Bounds() != image.Rect(0, 0, 1, 1) {
			t.Fatalf("1 x 1 sample: %v, %v", m, err)
		}
	}
}

func TestImage_Accepted(t *testing.T) {
	animated := encGIF(t, paletted(image.Rect(0, 0, 20, 10)), paletted(image.Rect(5, 2, 15, 9)), paletted(image.Rect(0, 0, 20, 10)))
	tests := []struct {
		name, ctype string
		data        []byte
		w, h        int
	}{
		{"PNG", "image/png", encPNG(t, noise(40, 30)), 40, 30},
		{"PNGGray", "image/png", encPNG(t, gray(7, 3)), 7, 3},
		{"JPEG", "image/jpeg", encJPEG(t, noise(33, 17)), 33, 17},
		{"JPEGGray", "image/jpeg", encJPEG(t, gray(9, 21)), 9, 21},
		{"GIF", "image/gif", encGIF(t, paletted(image.Rect(0, 0, 20, 10))), 20, 10},
		{"GIFAnimated", "image/gif", animated, 20, 10},
		{"WebPLossless", "image/webp", webpLossless, 8, 4},
		{"WebPLossy", "image/webp", webpLossy, 1, 1},
		{"WebPAlpha", "image/webp", webpAlpha, 1, 1},
		{"WidestAllowed", "image/png", encPNG(t, gray(ImageSideMax, 1)), ImageSideMax, 1},
		{"TallestAllowed", "image/png", encPNG(t, gray(1, ImageSideMax)), 1, ImageSideMax},
		{"OnePixel", "image/png", encPNG(t, gray(1, 1)), 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := CheckImage(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(tt.data)
			want := Image{ID: hex.EncodeToString(sum[:]), ContentType: tt.ctype, Width: tt.w, Height: tt.h}
			if img != want || !IsImageID(img.ID) {
				t.Errorf("got %+v, want %+v", img, want)
			}
		})
	}
}

func TestImage_ID(t *testing.T) {
	if got := ImageID(nil); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("id of no bytes %s, want SHA-256's", got)
	}
	a := encPNG(t, noise(8, 8))
	b := append([]byte(nil), a...)
	if ImageID(a) != ImageID(b) {
		t.Error("same bytes, different ids")
	}
	for _, i := range []int{0, len(b) / 2, len(b) - 1} {
		b[i] ^= 1
		if ImageID(a) == ImageID(b) {
			t.Errorf("byte %d differs, same id", i)
		}
		b[i] ^= 1
	}
	img, err := CheckImage(a)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(a)
	if img.ID != ImageID(a) || img.ID != hex.EncodeToString(sum[:]) || len(img.ID) != 64 || !IsImageID(img.ID) {
		t.Errorf("id %q is not the lowercase hex SHA-256 of the bytes", img.ID)
	}
}

func TestImage_Invalid(t *testing.T) {
	goodPNG, goodJPEG := encPNG(t, noise(64, 64)), encJPEG(t, noise(64, 64))
	goodGIF := encGIF(t, paletted(image.Rect(0, 0, 64, 64)))
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(prefix string) []byte {
		b := []byte(prefix)
		for range 1000 {
			b = append(b, byte(rng.Uint32()))
		}
		return b
	}

	// Cut each in the middle of its pixel data.
	idat, idatEnd := pngChunk(t, goodPNG, "IDAT")
	sos, gifData := jpegSegment(t, goodJPEG, 0xda), gifFrameData(goodGIF, gifFrame(t, goodGIF, 0, 0, 64, 64))
	const webpPixels = 31 // see webpLossless

	// A second frame whose pixel data is not LZW, and one outside the logical screen: image.Decode
	// reads the first frame only, and would accept both.
	twoFrames := encGIF(t, paletted(image.Rect(0, 0, 8, 8)), paletted(image.Rect(2, 2, 6, 5)))
	badLZW := append([]byte(nil), twoFrames...)
	p := gifFrameData(badLZW, gifFrame(t, badLZW, 2, 2, 4, 3))
	for i := range int(badLZW[p]) {
		badLZW[p+1+i] = 0xff
	}
	outside := append([]byte(nil), twoFrames...)
	binary.LittleEndian.PutUint16(outside[gifFrame(t, outside, 2, 2, 4, 3)+5:], 7) // 2+7 > 8
	for _, g := range [][]byte{badLZW, outside} {
		if _, err := gif.Decode(bytes.NewReader(g)); err != nil {
			t.Fatalf("the first frame should decode: %v", err)
		}
	}

	zeroGIF := append([]byte(nil), goodGIF...)
	binary.LittleEndian.PutUint16(zeroGIF[6:], 0) // logical screen 0 x 64

	// A 1 x 1 canvas whose lossless data declares 16384 x 16384: the WebP decoder must compare them
	// before it allocates the pixels.
	webpLie := webpVP8X(1, 1, []byte("VP8L\x08\x00\x00\x00\x2f\xff\xff\xff\x0f\x00\x00\x00"))

	tests := []struct {
		name string
		data []byte
	}{
		{"Nil", nil},
		{"Empty", []byte{}},
		{"Text", []byte("hello, this is not a picture")},
		{"Random", random("")},
		{"PNGSignatureThenGarbage", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 100)...)},
		{"PNGSignatureThenRandom", random("\x89PNG\r\n\x1a\n")},
		{"JPEGStartThenRandom", random("\xff\xd8\xff")},
		{"GIFHeaderThenRandom", random("GIF89a\x10\x00\x10\x00")},
		{"WebPHeaderThenRandom", random("RIFF\xf0\x03\x00\x00WEBPVP8L")},
		{"BMP", append([]byte("BM"), make([]byte, 100)...)}, // a real format, not one of ours
		{"TruncatedPNG", goodPNG[:(idat+idatEnd)/2]},
		{"TruncatedJPEG", goodJPEG[:(sos+len(goodJPEG))/2]},
		{"TruncatedGIF", goodGIF[:(gifData+len(goodGIF))/2]},
		{"TruncatedWebP", webpLossless[:webpPixels+2]},
		{"GIFHeaderOnly", goodGIF[:13]},
		{"GIFLaterFrameCorrupt", badLZW},
		{"GIFFrameOutsideScreen", outside},
		{"ZeroWidthPNG", pngSized(t, 0, 5)},
		{"ZeroWidthGIF", zeroGIF},
		{"WebPCanvasLies", webpLie},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if n := allocated(func() { _, err = CheckImage(tt.data) }); n > 1<<20 {
				t.Errorf("refusing allocated %d bytes", n)
			}
			wantErr(t, err, actors.ErrImageInvalid)
		})
	}
}

// Every proper prefix of a valid image is refused: each decoder wants its end marker.
func TestImage_EveryTruncationRefused(t *testing.T) {
	samples := map[string][]byte{
		"PNG":  encPNG(t, noise(9, 7)),
		"JPEG": encJPEG(t, noise(9, 7)),
		"GIF":  encGIF(t, paletted(image.Rect(0, 0, 9, 7)), paletted(image.Rect(1, 1, 5, 5))),
		"WebP": webpLossless,
	}
	for name, data := range samples {
		t.Run(name, func(t *testing.T) {
			if _, err := CheckImage(data); err != nil {
				t.Fatal(err)
			}
			for n := range len(data) {
				if _, err := CheckImage(data[:n]); !errors.Is(err, actors.ErrImageInvalid) {
					t.Fatalf("cut to %d of %d bytes: %v", n, len(data), err)
				}
			}
		})
	}
}

// Flipping any byte of a PNG's compressed pixels is refused: by the chunk's CRC, or once the CRC
// is fixed, by zlib (its stream or its Adler-32).
func TestImage_CorruptPNGRefused(t *testing.T) {
	for name, img := range map[string]image.Image{"Noise": noise(16, 16), "Gradient": gradient(16, 16)} {
		good := encPNG(t, img)
		start, end := pngChunk(t, good, "IDAT")
		for _, fixCRC := range []bool{false, true} {
			for i := start; i < end; i++ {
				bad := append([]byte(nil), good...)
				bad[i] ^= 0xff
				if fixCRC {
					pngFixCRC(bad, start, end)
				}
				if _, err := CheckImage(bad); !errors.Is(err, actors.ErrImageInvalid) {
					t.Fatalf("%s, byte %d of the IDAT flipped (CRC fixed: %v): %v", name, i-start, fixCRC, err)
				}
			}
		}
	}
}

func gradient(w, h int) *image.Gray {
	g := gray(w, h)
	for i := range g.Pix {
		g.Pix[i] = uint8(i)
	}
	return g
}

// bigFrame is a blank 4096 x 4096 GIF: its frame takes some 12 KB.
var bigFrame = sync.OnceValue(func() []byte {
	p := image.NewPaletted(image.Rect(0, 0, ImageSideMax, ImageSideMax), color.Palette{color.Black, color.White})
	var b bytes.Buffer
	if err := gif.Encode(&b, p, nil); err != nil {
		panic(err)
	}
	return b.Bytes()
})

// gifHead returns the length of g's header, logical screen and global colors.
func gifHead(g []byte) int {
	if g[10]&0x80 == 0 {
		return 13
	}
	return 13 + 3<<(1+g[10]&7)
}

// gifFrames repeats the frame of bigFrame n times.
func gifFrames(n int) []byte {
	g := bigFrame()
	head := gifHead(g)
	out := append([]byte(nil), g[:head]...)
	for range n {
		out = append(out, g[head:len(g)-1]...)
	}
	return append(out, 0x3b)
}

func TestImage_TooLarge(t *testing.T) {
	goodPNG, goodJPEG := encPNG(t, noise(16, 16)), encJPEG(t, noise(16, 16))
	goodGIF := encGIF(t, paletted(image.Rect(0, 0, 16, 16)))

	jpegHuge := append([]byte(nil), goodJPEG...)
	sof := jpegSegment(t, jpegHuge, 0xc0) // marker, length, precision, height, width
	binary.BigEndian.PutUint16(jpegHuge[sof+5:], 60000)
	binary.BigEndian.PutUint16(jpegHuge[sof+7:], 60000)
	gifHuge := append([]byte(nil), goodGIF...)
	binary.LittleEndian.PutUint16(gifHuge[6:], 65535)
	binary.LittleEndian.PutUint16(gifHuge[8:], 65535)

	tests := []struct {
		name   string
		data   []byte
		header int // the side the header declares, 0 if not a header test
	}{
		{"HugePNG", pngSized(t, 100_000, 100_000), 100_000},
		{"HugeJPEG", jpegHuge, 60000},
		{"HugeGIF", gifHuge, 65535},
		{"HugeWebP", webpVP8X(16384, 16384), 16384},
		{"TooWide", encPNG(t, gray(ImageSideMax+1, 1)), 0},
		{"TooTall", encPNG(t, gray(1, ImageSideMax+1)), 0},
		{"TooWideGIF", encGIF(t, paletted(image.Rect(0, 0, ImageSideMax+1, 1))), 0},
		{"OneByteTooMany", pad(goodPNG, ImageBytesMax+1), 0},
		{"GIFFramesTooMany", gifFrames(gifPixelsMax/(ImageSideMax*ImageSideMax) + 1), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.header > 0 { // the header is well-formed: the refusal is ours
				cfg, _, err := image.DecodeConfig(bytes.NewReader(tt.data))
				if err != nil || cfg.Width != tt.header || cfg.Height != tt.header {
					t.Fatalf("header: %+v, %v", cfg, err)
				}
			}
			var err error
			if n := allocated(func() { _, err = CheckImage(tt.data) }); n > 1<<20 {
				t.Errorf("refusing allocated %d bytes", n)
			}
			wantErr(t, err, actors.ErrImageTooLarge)
		})
	}
}

func TestImage_GIFFramesCounted(t *testing.T) {
	full := int64(ImageSideMax * ImageSideMax)
	for _, n := range []int{1, 2, gifPixelsMax / int(full)} {
		if got, err := gifPixels(gifFrames(n)); err != nil || got != int64(n)*full {
			t.Errorf("%d frames: %d pixels, %v", n, got, err)
		}
	}
	if _, err := gifPixels(gifFrames(gifPixelsMax/int(full) + 1)); !errors.Is(err, actors.ErrImageTooLarge) {
		t.Errorf("a frame over: %v", err)
	}
	// Extensions of each kind are skipped as image/gif skips them.
	g := encGIF(t, paletted(image.Rect(0, 0, 6, 5)))
	head := gifHead(g)
	ext := []byte("\x21\xfe\x03abc\x00" + // comment
		"\x21\x01\x0c\x00\x00\x00\x00\x06\x00\x05\x00\x01\x01\x00\x00\x02hi\x00" + // plain text
		"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00" + // loop forever
		"\x21\xf9\x04\x00\x00\x00\x00\x00") // graphic control
	withExt := append(append(append([]byte(nil), g[:head]...), ext...), g[head:]...)
	if got, err := gifPixels(withExt); err != nil || got != 30 {
		t.Errorf("with extensions: %d pixels, %v", got, err)
	}
	if img, err := CheckImage(withExt); err != nil || img.Width != 6 || img.Height != 5 {
		t.Errorf("with extensions: %+v, %v", img, err)
	}
	// image/gif reads a plain text extension's first 13 bytes whatever its size byte says: a walker
	// reading sub-blocks would stop at the 0 and take the 0x3b after it for the trailer, and miss the
	// frame that DecodeAll then allocates.
	odd := append(append(append([]byte(nil), g[:head]...), "\x21\x01\x00\x3b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"...), g[head:]...)
	if _, err := gif.DecodeAll(bytes.NewReader(odd)); err != nil {
		t.Fatalf("image/gif should read it: %v", err)
	}
	if got, err := gifPixels(odd); err != nil || got != 30 {
		t.Errorf("odd plain text: %d pixels, %v", got, err)
	}
}

// Go's decoders stop at the image's end, so bytes after it are allowed, up to ImageBytesMax.
func TestImage_PaddedToBytesMax(t *testing.T) {
	for name, data := range map[string][]byte{
		"PNG":  encPNG(t, noise(5, 4)),
		"JPEG": encJPEG(t, noise(5, 4)),
		"GIF":  encGIF(t, paletted(image.Rect(0, 0, 5, 4))),
		"WebP": webpLossless,
	} {
		t.Run(name, func(t *testing.T) {
			padded := pad(data, ImageBytesMax)
			img, err := CheckImage(padded)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := CheckImage(data)
			if img.ContentType != want.ContentType || img.Width != want.Width || img.Height != want.Height || img.ID != ImageID(padded) || img.ID == want.ID {
				t.Errorf("padded %+v, plain %+v", img, want)
			}
			_, err = CheckImage(append(padded, 0))
			wantErr(t, err, actors.ErrImageTooLarge)
		})
	}
}

// Whatever the bytes, CheckImage either refuses them with one of its two errors, or describes an
// image within the bounds; and the GIF walker counts the frames DecodeAll returns.
func FuzzCheckImage(f *testing.F) {
	f.Add(encPNG(f, noise(5, 4)))
	f.Add(encPNG(f, gradient(8, 3)))
	f.Add(encJPEG(f, noise(9, 8)))
	f.Add(encGIF(f, paletted(image.Rect(0, 0, 9, 7)), paletted(image.Rect(1, 1, 5, 5))))
	f.Add(webpLossless)
	f.Add(webpLossy)
	f.Add(webpAlpha)
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := CheckImage(data)
		if err != nil {
			if errors.Is(err, actors.ErrImageInvalid) == errors.Is(err, actors.ErrImageTooLarge) {
				t.Fatalf("neither or both image errors: %v", err)
			}
			return
		}
		switch {
		case img.Width < 1 || img.Width > ImageSideMax || img.Height < 1 || img.Height > ImageSideMax:
			t.Fatalf("size %d x %d", img.Width, img.Height)
		case img.ID != ImageID(data):
			t.Fatal("id is not the bytes' hash")
		case img.ContentType != "image/png" && img.ContentType != "image/jpeg" && img.ContentType != "image/gif" && img.ContentType != "image/webp":
			t.Fatalf("content type %q", img.ContentType)
		}
		if img.ContentType == "image/gif" {
			g, err := gif.DecodeAll(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			var want int64
			for _, m := range g.Image {
				want += int64(m.Bounds().Dx() * m.Bounds().Dy())
			}
			if got, _ := gifPixels(data); got != want {
				t.Fatalf("walker counted %d pixels, DecodeAll gave %d", got, want)
			}
		}
	})
}

func BenchmarkCheckImage(b *testing.B) {
	data := encPNG(b, noise(128, 128)) // about 64 KiB: noise does not compress
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CheckImage(data); err != nil {
			b.Fatal(err)
		}
	}
}

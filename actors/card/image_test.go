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
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/kaquan/kaquan/actors"
)

// webp1x1 is a 1 x 1 lossless WebP (there is no Go encoder).
var webp1x1, _ = base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")

func noise(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
	}
	return img
}

func encPNG(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encJPEG(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encGIF(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	p := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
	for i := range p.Pix {
		p.Pix[i] = uint8(i)
	}
	if err := gif.Encode(&b, p, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngSized is a small PNG whose header declares w x h pixels (with a valid IHDR checksum).
func pngSized(t testing.TB, w, h uint32) []byte {
	p := encPNG(t, image.NewGray(image.Rect(0, 0, 1, 1)))
	binary.BigEndian.PutUint32(p[16:], w)
	binary.BigEndian.PutUint32(p[20:], h)
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	return p
}

func TestImage_Accepted(t *testing.T) {
	tests := []struct {
		name, ctype string
		data        []byte
		w, h        int
	}{
		{"PNG", "image/png", encPNG(t, noise(40, 30)), 40, 30},
		{"JPEG", "image/jpeg", encJPEG(t, noise(33, 17)), 33, 17},
		{"GIF", "image/gif", encGIF(t, 20, 10), 20, 10},
		{"WebP", "image/webp", webp1x1, 1, 1},
		{"WidestAllowed", "image/png", encPNG(t, image.NewGray(image.Rect(0, 0, ImageSideMax, 1))), ImageSideMax, 1},
		{"TallestAllowed", "image/png", encPNG(t, image.NewGray(image.Rect(0, 0, 1, ImageSideMax))), 1, ImageSideMax},
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
	a := encPNG(t, noise(8, 8))
	b := append([]byte(nil), a...)
	if ImageID(a) != ImageID(b) {
		t.Error("same bytes, different ids")
	}
	b[len(b)-1] ^= 1
	if ImageID(a) == ImageID(b) {
		t.Error("different bytes, same id")
	}
	if IsImageID("ABC") || IsImageID(ImageID(a)[:63]+"G") || !IsImageID(ImageID(a)) {
		t.Error("IsImageID misjudges")
	}
}

func TestImage_Refused(t *testing.T) {
	goodPNG, goodJPEG, goodGIF := encPNG(t, noise(64, 64)), encJPEG(t, noise(64, 64)), encGIF(t, 64, 64)
	corrupt := append([]byte(nil), goodPNG...)
	for i := len(corrupt) / 2; i < len(corrupt)/2+64; i++ {
		corrupt[i] ^= 0x5a
	}
	jpegHuge := append([]byte(nil), goodJPEG...)
	if i := bytes.Index(jpegHuge, []byte{0xff, 0xc0}); i >= 0 { // SOF0: length, precision, height, width
		binary.BigEndian.PutUint16(jpegHuge[i+5:], 60000)
		binary.BigEndian.PutUint16(jpegHuge[i+7:], 60000)
	} else {
		t.Fatal("no SOF0 in the test JPEG")
	}
	gifHuge := append([]byte(nil), goodGIF...)
	binary.LittleEndian.PutUint16(gifHuge[6:], 65535)
	binary.LittleEndian.PutUint16(gifHuge[8:], 65535)
	// A VP8X header: flags, then canvas width-1 and height-1 in 24 bits each.
	webpHuge := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00\xff\x3f\x00\xff\x3f\x00")
	binary.LittleEndian.PutUint32(webpHuge[4:], uint32(len(webpHuge)-8))
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"Empty", nil, actors.ErrImageInvalid},
		{"Text", []byte("hello, this is not a picture"), actors.ErrImageInvalid},
		{"PNGSignatureThenGarbage", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 100)...), actors.ErrImageInvalid},
		{"TruncatedPNG", goodPNG[:len(goodPNG)/2], actors.ErrImageInvalid},
		{"TruncatedJPEG", goodJPEG[:len(goodJPEG)/2], actors.ErrImageInvalid},
		{"TruncatedGIF", goodGIF[:len(goodGIF)/2], actors.ErrImageInvalid},
		{"TruncatedWebP", webp1x1[:len(webp1x1)-6], actors.ErrImageInvalid},
		{"CorruptPNG", corrupt, actors.ErrImageInvalid},
		{"ZeroWidth", pngSized(t, 0, 5), actors.ErrImageInvalid},
		{"TooWide", pngSized(t, ImageSideMax+1, 1), actors.ErrImageTooLarge},
		{"TooTall", pngSized(t, 1, ImageSideMax+1), actors.ErrImageTooLarge},
		{"HugePNG", pngSized(t, 100_000, 100_000), actors.ErrImageTooLarge},
		{"HugeJPEG", jpegHuge, actors.ErrImageTooLarge},
		{"HugeGIF", gifHuge, actors.ErrImageTooLarge},
		{"HugeWebP", webpHuge, actors.ErrImageTooLarge},
		{"TooManyBytes", append(append([]byte(nil), goodPNG...), make([]byte, ImageBytesMax)...), actors.ErrImageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := CheckImage(tt.data)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tt.want) || !errors.Is(err, actors.ErrInvalidArgument) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			if tt.want == actors.ErrImageTooLarge && after.TotalAlloc-before.TotalAlloc > 1<<20 {
				t.Errorf("refusing allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
			}
		})
	}
}

func BenchmarkCheckImage(b *testing.B) {
	data := encPNG(b, noise(128, 128)) // about 64 KiB
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := CheckImage(data); err != nil {
			b.Fatal(err)
		}
	}
}

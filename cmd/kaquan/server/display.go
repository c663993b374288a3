package server

import (
	"bytes"
	"errors"
	"image/png"
	"net/http"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/code128"
	"github.com/boombuler/barcode/qr"
	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/actors"
)

// servePaymentCode draws a payment code for its owner to show: GET /payment-codes/{code}/qr.png
// or /barcode.png, with the owner's (or the admin's) token. A used or expired code is 410 Gone to
// its owner; anybody else gets 404 for every code.
func (s *Server) servePaymentCode(w http.ResponseWriter, r *http.Request) {
	code, format := r.PathValue("code"), r.PathValue("format")
	if !actors.IsPaymentCode(code) || (format != "qr.png" && format != "barcode.png") {
		http.Error(w, "want /payment-codes/<18 digits>/qr.png or barcode.png", http.StatusNotFound)
		return
	}
	p, err := s.authenticate(r.Context(), r.Header)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	pc, err := s.e.PaymentCodeInfo(r.Context(), code)
	var owner uint64
	if err == nil {
		var a kaquan.AccountInfo
		if a, err = s.e.Account(r.Context(), pc.AccountId); err == nil {
			owner = a.Account.GetOwnerId()
		}
	}
	w.Header().Set("Cache-Control", "no-store") // a live payment code, or one that may be gone soon
	if err != nil || !(p.admin() || (p.Party == owner && p.Kind != 0)) {
		http.Error(w, "no such payment code of yours", http.StatusNotFound) // strangers learn nothing
		return
	}
	// A code drawn for its owner to show must be one a merchant can still take.
	switch {
	case pc.UsedBy != "":
		http.Error(w, "payment code used", http.StatusGone)
		return
	case s.opts.Clock().UnixNano() >= pc.ExpiresAt:
		http.Error(w, "payment code expired", http.StatusGone)
		return
	}
	var img barcode.Barcode
	if format == "qr.png" {
		img, err = qr.Encode(code, qr.M, qr.Auto)
		if err == nil {
			img, err = barcode.Scale(img, 256, 256)
		}
	} else {
		img, err = code128.Encode(code)
		if err == nil {
			img, err = barcode.Scale(img, 4*img.Bounds().Dx(), 120)
		}
	}
	var b bytes.Buffer
	if err == nil {
		err = png.Encode(&b, img)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(b.Bytes())
}

// serveImage serves a gift image by id (its content hash): public and immutable.
func (s *Server) serveImage(w http.ResponseWriter, r *http.Request) {
	img, err := s.e.Image(r.Context(), r.PathValue("id"))
	if errors.Is(err, kaquan.ErrUnknownEntity) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	// The bytes are a user's upload, served from the API's origin: a browser must take them for
	// the image type they were decoded as (never sniff HTML or script out of them), and a document
	// made of them may load and run nothing.
	w.Header().Set("Content-Type", img.ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("ETag", `"`+img.ID+`"`)
	_, _ = w.Write(img.Data)
}

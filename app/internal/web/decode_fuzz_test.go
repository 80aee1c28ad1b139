package web

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
)

// The decoders either refuse a body with a 4xx or return values inside the contract; they
// never panic. Seeds, and any crasher `go test -fuzz` finds, live in testdata/fuzz and run
// as regression cases on every `go test`.

func FuzzDecodeLogin(f *testing.F) {
	for _, s := range []string{`{"user":"alice"}`, `{"user":""}`, `{"user":"a","x":1}`, `{"user":"\u00e9"}`, `null`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req loginRequest
		err := decode(http.MaxBytesReader(nil, nopCloser{bytes.NewReader(body)}, MaxBodyBytes), &req)
		if err != nil {
			if err.status < 400 || err.status > 499 || err.msg == "" {
				t.Fatalf("error %d %q", err.status, err.msg)
			}
			return
		}
		if !cart.ValidName(req.User) {
			t.Fatalf("accepted invalid user %q from %q", req.User, body)
		}
	})
}

func FuzzDecodeAddItem(f *testing.F) {
	for _, s := range []string{`{"sku":"apple","qty":3}`, `{"sku":"apple","qty":1e2}`, `{"sku":"a","qty":-1}`,
		`{"sku":"a","qty":99999999999999999999}`, `{"SKU":"a","QTY":1}`, `{"sku":"a","qty":1} x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req addItemRequest
		err := decode(http.MaxBytesReader(nil, nopCloser{bytes.NewReader(body)}, MaxBodyBytes), &req)
		if err != nil {
			if err.status < 400 || err.status > 499 || err.msg == "" {
				t.Fatalf("error %d %q", err.status, err.msg)
			}
			return
		}
		if !cart.ValidName(req.SKU) || req.Qty < 1 || req.Qty > cart.MaxQtyPerAdd {
			t.Fatalf("accepted %+v from %q", req, body)
		}
		if len(body) > MaxBodyBytes {
			t.Fatalf("accepted a %d-byte body", len(body))
		}
	})
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
)

// requestError is a client mistake: the status and message to answer with.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) *requestError {
	return &requestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// request bodies know how to check their values.
type validator interface{ validate() error }

type loginRequest struct {
	User string `json:"user"`
}

func (l *loginRequest) validate() error {
	if !cart.ValidName(l.User) {
		return badRequest("user must be 1-%d of [A-Za-z0-9._-]", cart.MaxNameLen)
	}
	return nil
}

type addItemRequest struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

func (a *addItemRequest) validate() error {
	if !cart.ValidName(a.SKU) {
		return badRequest("sku must be 1-%d of [A-Za-z0-9._-]", cart.MaxNameLen)
	}
	if a.Qty < 1 || a.Qty > cart.MaxQtyPerAdd {
		return badRequest("qty must be an integer from 1 to %d", cart.MaxQtyPerAdd)
	}
	return nil
}

// readJSON decodes a request body into dst strictly (one JSON object, no unknown fields, at
// most MaxBodyBytes) and validates it.
func readJSON(w http.ResponseWriter, r *http.Request, dst validator) *requestError {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &requestError{http.StatusUnsupportedMediaType, "Content-Type must be application/json"}
		}
	}
	return decode(http.MaxBytesReader(w, r.Body, MaxBodyBytes), dst)
}

// decode is readJSON without HTTP, the part the fuzz tests drive.
func decode(body io.Reader, dst validator) *requestError {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return decodeError(err)
		}
		return badRequest("request body must be a single JSON object")
	}
	if err := dst.validate(); err != nil {
		var re *requestError
		if errors.As(err, &re) {
			return re
		}
		return badRequest("%v", err)
	}
	return nil
}

func decodeError(err error) *requestError {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		tooBig *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooBig):
		return &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit)}
	case errors.Is(err, io.EOF):
		return badRequest("request body is empty; want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("request body is truncated JSON")
	case errors.As(err, &syntax):
		return badRequest("malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("request body must be a JSON object")
		}
		return badRequest("field %q must be a %s", typ.Field, typ.Type.String())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return badRequest("invalid JSON: %v", err)
	}
}

// The state check: a session and a cart outlive the loss of affinity.

package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
)

type cart struct {
	Items []struct {
		SKU string `json:"sku"`
		Qty int    `json:"qty"`
	} `json:"items"`
}

func (c cart) qty(sku string) int {
	n := 0
	for _, it := range c.Items {
		if it.SKU == sku {
			n += it.Qty
		}
	}
	return n
}

func (v *verifier) checkSurvivesWithoutGAESA(ctx context.Context) {
	if v.signErr != nil {
		v.add(CheckSurvives, false, "%v", v.signErr)
		return
	}
	sku := "verify-" + randomHex(4)
	resp, body, err := v.do(ctx, v.client, http.MethodPost, "/api/cart/items", map[string]any{"sku": sku, "qty": 2})
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s %s", resp.Status, bytes.TrimSpace(body))
	}
	if err != nil {
		v.add(CheckSurvives, false, "add %s to the cart: %v", sku, err)
		return
	}
	writer := resp.Header.Get("X-Instance-Id")
	defer func() { // leave nothing behind on the deployment
		_, _, _ = v.do(context.WithoutCancel(ctx), v.client, http.MethodDelete, "/api/cart/items/"+sku, nil)
		_, _, _ = v.do(context.WithoutCancel(ctx), v.client, http.MethodPost, "/api/logout", nil)
	}()

	// Drop GAESA, keep the session cookie: the router may pick any instance. Try a few times
	// to land on another one, which is what proves the state is not in instance memory.
	var readers []string
	for range 5 {
		jar, _ := cookiejar.New(nil)
		var keep []*http.Cookie
		for _, c := range v.jar.Cookies(v.base) {
			if c.Name != CookieName {
				keep = append(keep, c)
			}
		}
		jar.SetCookies(v.base, keep)
		fresh := v.newClient(jar)

		resp, body, err := v.do(ctx, fresh, http.MethodGet, "/api/me", nil)
		var me struct {
			User string `json:"user"`
		}
		if err == nil && (resp.StatusCode != http.StatusOK || json.Unmarshal(body, &me) != nil || me.User != v.user) {
			err = fmt.Errorf("%s %s, want 200 with user %s", resp.Status, bytes.TrimSpace(body), v.user)
		}
		if err != nil {
			v.add(CheckSurvives, false, "session lost without GAESA: GET /api/me: %v", err)
			return
		}
		reader := resp.Header.Get("X-Instance-Id")
		resp, body, err = v.do(ctx, fresh, http.MethodGet, "/api/cart", nil)
		var got cart
		if err == nil && (resp.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil) {
			err = fmt.Errorf("%s %s", resp.Status, bytes.TrimSpace(body))
		}
		if err != nil {
			v.add(CheckSurvives, false, "cart unreadable without GAESA: GET /api/cart: %v", err)
			return
		}
		if got.qty(sku) != 2 {
			v.add(CheckSurvives, false, "cart read on %s has %d of %s, want the 2 added on %s", reader, got.qty(sku), sku, writer)
			return
		}
		readers = append(readers, reader)
		if reader != writer {
			v.add(CheckSurvives, true, "signed in and added on %s, read back on %s without GAESA", writer, reader)
			return
		}
	}
	v.add(CheckSurvives, true, "read back without GAESA %d times, but always on %s, where it was written: not proven across instances",
		len(readers), writer)
}

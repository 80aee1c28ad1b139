package web

import (
	"bufio"
	"net"
	"net/http"
)

// previousSocket is the instance the page's previous WebSocket was on, from ?previous= (the
// page sends the instance of its last hello; empty for its first socket). It is only compared
// with this instance's id, so whatever a client sends, websocket.connects gets one of three
// values.
func previousSocket(r *http.Request) string { return r.URL.Query().Get("previous") }

// socketWriter tells telemetry when the upgrade has taken the connection over: from then on the
// socket is open, until the hub returns.
type socketWriter struct {
	http.ResponseWriter
	opened func() (closed func())
	closed func()
}

func (w *socketWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.closed == nil {
		w.closed = w.opened()
	}
	return conn, brw, err
}

func (w *socketWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

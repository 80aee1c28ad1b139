package main

import (
	"log/slog"
	"net"
)

type netListener = net.Listener

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

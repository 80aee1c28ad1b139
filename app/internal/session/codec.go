package session

import (
	"encoding/json"
	"time"
)

// jsonCodec stores sessions as JSON instead of scs's default gob: a gob decoder is built per
// session load, which dominates the cost of an authenticated request. Values here are plain
// strings and booleans, which JSON keeps as they are.
type jsonCodec struct{}

type storedSession struct {
	Deadline time.Time      `json:"d"`
	Values   map[string]any `json:"v"`
}

func (jsonCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	return json.Marshal(storedSession{deadline, values})
}

func (jsonCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	var s storedSession
	if err := json.Unmarshal(b, &s); err != nil {
		return time.Time{}, nil, err
	}
	if s.Values == nil {
		s.Values = map[string]any{}
	}
	return s.Deadline, s.Values, nil
}

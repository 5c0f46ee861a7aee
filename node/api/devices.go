package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// DeviceInfo is one device of an account.
type DeviceInfo struct {
	Address     string `json:"address"`
	Label       string `json:"label"`
	AddedHeight int64  `json:"added_height"`
}

// Devices are an account's devices, and which node answers.
type Devices struct {
	Account string       `json:"account"`
	Self    string       `json:"self"`
	Devices []DeviceInfo `json:"devices"`
}

// DeviceBackend is a Backend whose account can have many devices.
type DeviceBackend interface {
	// DeviceRequest is this node's code to become a device of account.
	DeviceRequest(ctx context.Context, account string) (string, error)
	// AddDevice makes the node that gave code a device of this account.
	AddDevice(ctx context.Context, code, label string) (*DeviceInfo, error)
	// Devices lists the account's devices.
	Devices(ctx context.Context) (*Devices, error)
	// RemoveDevice removes a device from the account.
	RemoveDevice(ctx context.Context, device string) error
}

type deviceRequest struct {
	Account string `json:"account,omitempty"`
	Code    string `json:"code,omitempty"`
	Label   string `json:"label,omitempty"`
}

// DeviceCode is a device request's answer.
type DeviceCode struct {
	Code string `json:"code"`
}

func (s *Server) deviceRoutes(mux *http.ServeMux) {
	dev := func(h func(DeviceBackend, http.ResponseWriter, *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			db, ok := s.backend.(DeviceBackend)
			if !ok {
				writeError(w, http.StatusNotFound, errors.New("this node has no devices"))
				return
			}
			h(db, w, r)
		}
	}
	mux.HandleFunc("GET /v1/devices", dev(func(db DeviceBackend, w http.ResponseWriter, r *http.Request) {
		ds, err := db.Devices(r.Context())
		s.reply(w, ds, err)
	}))
	mux.HandleFunc("POST /v1/devices", dev(func(db DeviceBackend, w http.ResponseWriter, r *http.Request) {
		var req deviceRequest
		if err := decodeJSON(w, r, &req); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		d, err := db.AddDevice(r.Context(), req.Code, req.Label)
		s.reply(w, d, err)
	}))
	mux.HandleFunc("POST /v1/devices/request", dev(func(db DeviceBackend, w http.ResponseWriter, r *http.Request) {
		var req deviceRequest
		if err := decodeJSON(w, r, &req); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		code, err := db.DeviceRequest(r.Context(), req.Account)
		s.reply(w, DeviceCode{Code: code}, err)
	}))
	mux.HandleFunc("DELETE /v1/devices/{address}", dev(func(db DeviceBackend, w http.ResponseWriter, r *http.Request) {
		s.reply(w, struct{}{}, db.RemoveDevice(r.Context(), r.PathValue("address")))
	}))
}

// DeviceRequest asks the node for its code to become a device of account.
func (c *Client) DeviceRequest(ctx context.Context, account string) (string, error) {
	var out DeviceCode
	return out.Code, c.getJSON(ctx, http.MethodPost, "/v1/devices/request", deviceRequest{Account: account}, &out)
}

// AddDevice makes the node that gave code a device of the node's account.
func (c *Client) AddDevice(ctx context.Context, code, label string) (*DeviceInfo, error) {
	var out DeviceInfo
	return &out, c.getJSON(ctx, http.MethodPost, "/v1/devices", deviceRequest{Code: code, Label: label}, &out)
}

// Devices lists the account's devices.
func (c *Client) Devices(ctx context.Context) (*Devices, error) {
	var out Devices
	return &out, c.getJSON(ctx, http.MethodGet, "/v1/devices", nil, &out)
}

// RemoveDevice removes a device from the account.
func (c *Client) RemoveDevice(ctx context.Context, device string) error {
	return c.getJSON(ctx, http.MethodDelete, "/v1/devices/"+url.PathEscape(device), nil, nil)
}

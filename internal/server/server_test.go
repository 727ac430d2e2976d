package server

import (
	"io"
	"net/http"
	"testing"
)

func TestGetWithClient(t *testing.T) {
	ts := startServer(t, defaultTestOptions(), okHandler)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for i := range 3 {
		resp, err := c.Get("http://" + ts.addr + "/x?y=1")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok" {
			t.Errorf("request %d: %d %q, want 200 \"ok\"", i, resp.StatusCode, b)
		}
	}
}

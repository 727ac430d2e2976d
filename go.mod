module palisade

go 1.26.8

require (
	github.com/andybalholm/brotli v1.2.8
	github.com/coder/websocket v1.8.15
	github.com/fsnotify/fsnotify v1.10.1
	github.com/klauspost/compress v1.20.3
	go.yaml.in/yaml/v4 v4.0.0
	golang.org/x/sys v0.49.0
)

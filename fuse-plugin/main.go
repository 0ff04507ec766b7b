// kube-pmix-fuse-plugin: a kubelet device plugin that hands /dev/fuse to containers.
//
// It advertises the extended resource github.com/fuse with -count slots (one
// /dev/fuse serves any number of containers: the slots only bound how many
// containers of a node may ask for it), and answers each allocation with the
// device node, read-write. The -unpriv virtual clusters ask for one slot per
// pod, so rootless podman there stores images on fuse-overlayfs.
//
// Life cycle, as the kubelet's device-plugin API (v1beta1) wants it: serve
// gRPC on a socket in the kubelet's device-plugin folder, register through the
// kubelet's socket, stream the device list (every slot Unhealthy while the
// host has no /dev/fuse), and start again when the kubelet restarts, which
// removes every plugin socket. SIGTERM ends it, removing its socket.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

const resourceName = "github.com/fuse"

type plugin struct {
	pluginapi.UnimplementedDevicePluginServer
	count  int
	device string
	check  time.Duration
	stop   chan struct{}
}

func (p *plugin) devices() []*pluginapi.Device {
	health := pluginapi.Healthy
	if _, err := os.Stat(p.device); err != nil {
		health = pluginapi.Unhealthy
	}
	devs := make([]*pluginapi.Device, p.count)
	for i := range devs {
		devs[i] = &pluginapi.Device{ID: fmt.Sprintf("fuse-%d", i), Health: health}
	}
	return devs
}

func (p *plugin) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{}, nil
}

// ListAndWatch sends the slots, and again whenever the device comes or goes.
func (p *plugin) ListAndWatch(_ *pluginapi.Empty, stream pluginapi.DevicePlugin_ListAndWatchServer) error {
	last := ""
	ticker := time.NewTicker(p.check)
	defer ticker.Stop()
	for {
		devs := p.devices()
		if devs[0].Health != last {
			if err := stream.Send(&pluginapi.ListAndWatchResponse{Devices: devs}); err != nil {
				return err
			}
			log.Printf("%d x %s: %s", p.count, resourceName, devs[0].Health)
			last = devs[0].Health
		}
		select {
		case <-p.stop:
			return nil
		case <-stream.Context().Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Allocate gives every requesting container the device node, read-write, no mknod.
func (p *plugin) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	resp := &pluginapi.AllocateResponse{}
	for range req.ContainerRequests {
		resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerAllocateResponse{
			Devices: []*pluginapi.DeviceSpec{{ContainerPath: "/dev/fuse", HostPath: p.device, Permissions: "rw"}},
		})
	}
	return resp, nil
}

func (p *plugin) GetPreferredAllocation(context.Context, *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	return &pluginapi.PreferredAllocationResponse{}, nil
}

func (p *plugin) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}

// serve starts the gRPC server on SOCKET and registers with the kubelet.
func (p *plugin) serve(dir, socket string) (*grpc.Server, error) {
	path := filepath.Join(dir, socket)
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	listener, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	server := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(server, p)
	go func() { _ = server.Serve(listener) }()

	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, "kubelet.sock"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		server.Stop()
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version:      pluginapi.Version,
		Endpoint:     socket,
		ResourceName: resourceName,
	})
	if err != nil {
		server.Stop()
		return nil, fmt.Errorf("registering with the kubelet: %w", err)
	}
	log.Printf("registered %s (%s) with the kubelet", resourceName, path)
	return server, nil
}

func main() {
	dir := flag.String("dir", pluginapi.DevicePluginPath, "the kubelet's device-plugin folder")
	socket := flag.String("socket", "kube-pmix-fuse.sock", "this plugin's socket in -dir")
	count := flag.Int("count", 64, "slots of "+resourceName+" advertised per node")
	device := flag.String("device", "/dev/fuse", "the device node handed to containers")
	flag.Parse()
	if *count < 1 {
		log.Fatalf("-count must be at least 1")
	}
	log.SetPrefix("kube-pmix-fuse-plugin: ")
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)

	for {
		p := &plugin{count: *count, device: *device, check: 10 * time.Second,
			stop: make(chan struct{})}
		server, err := p.serve(*dir, *socket)
		if err != nil {
			log.Printf("%v; trying again in 5 s", err)
		}
		// Until told to stop, or the kubelet restarts (it removes our socket): then again.
		restart := false
		for !restart {
			select {
			case <-signals:
				close(p.stop)
				if server != nil {
					server.Stop()
				}
				_ = os.Remove(filepath.Join(*dir, *socket))
				return
			case <-time.After(5 * time.Second):
				if _, err := os.Stat(filepath.Join(*dir, *socket)); server == nil || err != nil {
					restart = true
				}
			}
		}
		close(p.stop)
		if server != nil {
			log.Printf("the kubelet removed %s: registering again", *socket)
			server.Stop()
		}
	}
}

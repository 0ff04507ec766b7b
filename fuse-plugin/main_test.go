package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// fakeKubelet records what plugins register, as the kubelet's Registration service.
type fakeKubelet struct {
	pluginapi.UnimplementedRegistrationServer
	got chan *pluginapi.RegisterRequest
}

func (k *fakeKubelet) Register(_ context.Context, req *pluginapi.RegisterRequest) (*pluginapi.Empty, error) {
	k.got <- req
	return &pluginapi.Empty{}, nil
}

func startKubelet(t *testing.T, dir string) *fakeKubelet {
	t.Helper()
	listener, err := net.Listen("unix", filepath.Join(dir, "kubelet.sock"))
	if err != nil {
		t.Fatal(err)
	}
	kubelet := &fakeKubelet{got: make(chan *pluginapi.RegisterRequest, 4)}
	server := grpc.NewServer()
	pluginapi.RegisterRegistrationServer(server, kubelet)
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(server.Stop)
	return kubelet
}

func dial(t *testing.T, path string) pluginapi.DevicePluginClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pluginapi.NewDevicePluginClient(conn)
}

// The plugin registers its resource and socket, lists its slots, and hands out the device.
func TestRegistersListsAndAllocates(t *testing.T) {
	dir := t.TempDir()
	kubelet := startKubelet(t, dir)
	device := filepath.Join(dir, "fuse")
	if err := os.WriteFile(device, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &plugin{count: 3, device: device, check: 50 * time.Millisecond, stop: make(chan struct{})}
	server, err := p.serve(dir, "test.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer server.Stop()
	defer close(p.stop)

	req := <-kubelet.got
	if req.ResourceName != "github.com/fuse" || req.Endpoint != "test.sock" || req.Version != pluginapi.Version {
		t.Fatalf("registered %+v", req)
	}
	client := dial(t, filepath.Join(dir, "test.sock"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := client.ListAndWatch(ctx, &pluginapi.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Devices) != 3 || first.Devices[0].Health != pluginapi.Healthy {
		t.Fatalf("listed %+v", first.Devices)
	}
	// the device goes away: every slot turns Unhealthy
	if err := os.Remove(device); err != nil {
		t.Fatal(err)
	}
	gone, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if gone.Devices[2].Health != pluginapi.Unhealthy {
		t.Fatalf("after removal %+v", gone.Devices)
	}

	resp, err := client.Allocate(ctx, &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{
		{DevicesIds: []string{"fuse-0"}}, {DevicesIds: []string{"fuse-1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ContainerResponses) != 2 {
		t.Fatalf("allocated %+v", resp)
	}
	spec := resp.ContainerResponses[1].Devices[0]
	if spec.ContainerPath != "/dev/fuse" || spec.HostPath != device || spec.Permissions != "rw" {
		t.Fatalf("device %+v", spec)
	}
}

// Without a kubelet to register with, serve fails and leaves no server behind.
func TestNoKubeletIsAnError(t *testing.T) {
	dir := t.TempDir()
	p := &plugin{count: 1, device: "/dev/null", check: time.Second, stop: make(chan struct{})}
	if server, err := p.serve(dir, "x.sock"); err == nil {
		server.Stop()
		t.Fatal("registered without a kubelet")
	}
}

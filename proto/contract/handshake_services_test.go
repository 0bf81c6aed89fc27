package contract

import (
	"testing"

	"google.golang.org/grpc"

	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// Every service of the proto is served: a service left out of GRPCServer
// answers Unimplemented through the real binary, which in-process adapter
// tests calling the server type directly never see.
func TestGRPCServerRegistersEveryService(t *testing.T) {
	t.Parallel()
	s := grpc.NewServer()
	if err := (&GRPCPlugin{}).GRPCServer(nil, s); err != nil {
		t.Fatal(err)
	}
	registered := s.GetServiceInfo()
	services := duov1.File_duo_v1_duo_proto.Services()
	for i := range services.Len() {
		name := string(services.Get(i).FullName())
		if _, ok := registered[name]; !ok {
			t.Errorf("service %s is not registered by GRPCPlugin.GRPCServer", name)
		}
	}
}

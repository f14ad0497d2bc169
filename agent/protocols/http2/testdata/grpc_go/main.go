// A grpc-go client and server with a raw-bytes codec, for recording real grpc-go HTTP/2
// traffic. Tests only: testdata/capture.py builds it (GOPATH with Debian's
// golang-google-grpc-dev) and runs it.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
)

type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string   { return "proto" }
func (rawCodec) String() string { return "proto" }

func handler(srv interface{}, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	switch method {
	case "/test.Echo/Unary":
		var in []byte
		if err := stream.RecvMsg(&in); err != nil {
			return err
		}
		if string(in) == "fail" {
			return status.Error(codes.PermissionDenied, "denied: 100% sure")
		}
		out := append([]byte("\x0a\x05hello"), in...)
		return stream.SendMsg(&out)
	case "/test.Echo/Bidi":
		for {
			var in []byte
			err := stream.RecvMsg(&in)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := stream.SendMsg(&in); err != nil {
				return err
			}
		}
	}
	return status.Error(codes.Unimplemented, "no such method")
}

func main() {
	encoding.RegisterCodec(rawCodec{})
	if os.Args[1] == "server" {
		lis, err := net.Listen("tcp", "127.0.0.1:"+os.Args[2])
		if err != nil {
			panic(err)
		}
		s := grpc.NewServer(grpc.UnknownServiceHandler(handler), grpc.CustomCodec(rawCodec{}))
		s.Serve(lis)
		return
	}
	conn, err := grpc.Dial("127.0.0.1:"+os.Args[2], grpc.WithInsecure(),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		in := []byte(fmt.Sprintf("\x0a\x03ab%d", i))
		var out []byte
		if err := conn.Invoke(ctx, "/test.Echo/Unary", &in, &out); err != nil {
			panic(err)
		}
	}
	in := []byte("fail")
	var out []byte
	if err := conn.Invoke(ctx, "/test.Echo/Unary", &in, &out); status.Code(err) != codes.PermissionDenied {
		panic(fmt.Sprint("want PermissionDenied, got ", err))
	}
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/test.Echo/Bidi")
	if err != nil {
		panic(err)
	}
	for i := 0; i < 3; i++ {
		m := []byte{0x08, byte(i + 1)}
		if err := stream.SendMsg(&m); err != nil {
			panic(err)
		}
		var r []byte
		if err := stream.RecvMsg(&r); err != nil {
			panic(err)
		}
	}
	stream.CloseSend()
	var r []byte
	if err := stream.RecvMsg(&r); err != io.EOF {
		panic(fmt.Sprint("want EOF, got ", err))
	}
	fmt.Println("ok")
}

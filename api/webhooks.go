package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// CreateWebhook adds a receiver of events and returns it with its signing
// secret (the one given, or one picked), which no read returns again.
func (s *Server) CreateWebhook(ctx context.Context, r *pb.CreateWebhookRequest) (*pb.CreateWebhookResponse, error) {
	w, secret, err := s.store.CreateWebhook(ctx, actor(ctx), r.GetWebhook())
	if err != nil {
		return nil, err
	}
	return &pb.CreateWebhookResponse{Webhook: w, Secret: secret}, nil
}

// ListWebhooks lists the webhooks, sorted by id, without their secrets.
func (s *Server) ListWebhooks(context.Context, *pb.ListWebhooksRequest) (*pb.ListWebhooksResponse, error) {
	out := &pb.ListWebhooksResponse{}
	for _, w := range s.store.Current().Webhooks() {
		out.Webhooks = append(out.Webhooks, store.WebhookOut(w))
	}
	return out, nil
}

// DeleteWebhook removes a webhook; its pending deliveries are given up.
func (s *Server) DeleteWebhook(ctx context.Context, r *pb.DeleteWebhookRequest) (*pb.DeleteWebhookResponse, error) {
	if r.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "id: must not be empty")
	}
	if err := s.store.DeleteWebhook(ctx, actor(ctx), r.GetId()); err != nil {
		return nil, err
	}
	return &pb.DeleteWebhookResponse{}, nil
}

// ListWebhookDeliveries lists the delivery log, newest first: every
// webhook's, or one's; limit 0 is 100, at most 1000.
func (s *Server) ListWebhookDeliveries(ctx context.Context, r *pb.ListWebhookDeliveriesRequest) (*pb.ListWebhookDeliveriesResponse, error) {
	if r.GetLimit() < 0 || r.GetLimit() > 1000 {
		return nil, status.Errorf(codes.InvalidArgument, "limit: %d is not between 0 and 1000", r.GetLimit())
	}
	ds, err := s.store.ListWebhookDeliveries(ctx, r.GetWebhookId(), int(r.GetLimit()))
	if err != nil {
		return nil, err
	}
	return &pb.ListWebhookDeliveriesResponse{Deliveries: ds}, nil
}

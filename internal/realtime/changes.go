package realtime

import (
	"context"
	"encoding/json"

	"github.com/madbase/madbase/internal/control"
)

type chanSubs struct{}

type sysMsg struct{ status, message string }

type feed struct{}

func (s *Service) subscribeChanges(ctx context.Context, ch *channel, raw []json.RawMessage) ([]json.RawMessage, []sysMsg) {
	return []json.RawMessage{}, nil
}
func (s *Service) unsubscribeChanges(ch *channel) {}
func (s *Service) useFeed(p *control.Project)     {}
func (s *Service) releaseFeed(ref string)         {}
func (s *Service) projectChanged(ref string)      {}

package bus

import (
	"context"
	"errors"
	"sync"
)

// Bus publishes messages to topics and delivers them to the subscribers
// of those topics, on this process and, for distributed implementations,
// on every other process connected to the same bus.
type Bus interface {
	// Publish sends msg to every current subscriber of topic. It returns
	// once the bus has accepted the message, not once it was delivered.
	Publish(ctx context.Context, topic string, msg []byte) error
	// Subscribe delivers the messages published to topic from now on
	// until cancel is called or ctx ends; then the channel is closed. The
	// subscription is active when Subscribe returns.
	Subscribe(ctx context.Context, topic string) (msgs <-chan []byte, cancel func(), err error)
	// Close ends every subscription and releases the bus's resources.
	Close() error
}

// ErrClosed is returned by a closed bus.
var ErrClosed = errors.New("bus: closed")

// Buffer is how many messages a subscription holds before it drops new
// ones.
const Buffer = 4096

// Memory is an in-process Bus.
type Memory struct {
	mu     sync.Mutex
	subs   map[string]map[*memSub]struct{}
	closed bool
}

type memSub struct {
	ch   chan []byte
	once sync.Once
}

// NewMemory returns an empty in-process bus.
func NewMemory() *Memory { return &Memory{subs: map[string]map[*memSub]struct{}{}} }

// Publish implements Bus. A full subscriber loses msg.
func (m *Memory) Publish(ctx context.Context, topic string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for s := range m.subs[topic] {
		select {
		case s.ch <- msg:
		default:
		}
	}
	return nil
}

// Subscribe implements Bus.
func (m *Memory) Subscribe(ctx context.Context, topic string) (<-chan []byte, func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, nil, ErrClosed
	}
	s := &memSub{ch: make(chan []byte, Buffer)}
	if m.subs[topic] == nil {
		m.subs[topic] = map[*memSub]struct{}{}
	}
	m.subs[topic][s] = struct{}{}
	stop := context.AfterFunc(ctx, func() { m.unsubscribe(topic, s) })
	return s.ch, func() {
		stop()
		m.unsubscribe(topic, s)
	}, nil
}

func (m *Memory) unsubscribe(topic string, s *memSub) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.subs[topic][s]; ok {
		delete(m.subs[topic], s)
		if len(m.subs[topic]) == 0 {
			delete(m.subs, topic)
		}
		s.once.Do(func() { close(s.ch) })
	}
}

// Close implements Bus.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, subs := range m.subs {
		for s := range subs {
			s.once.Do(func() { close(s.ch) })
		}
	}
	m.subs = map[string]map[*memSub]struct{}{}
	return nil
}

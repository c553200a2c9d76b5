// go-chatd: the Go twin of gort-chatd (tools/chat), the same IRC subset
// with the same replies, so that gort-chatload drives both alike. As in
// Twitch's Go chat edge and in gort-chatd: per connection a reader, a
// handler and a writer goroutine, one hub behind a mutex, a bounded send
// queue whose overflow drops the client ("SendQ exceeded"). Go's net
// package gives every socket a finalizer, the per-connection finalizer
// gort-chatd's collected Client mirrors.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
	"strings"
	"sync"
	"time"
)

const maxLine = 512

var (
	serverName = flag.String("name", "gort.chat", "server name")
	pingEvery  = flag.Int("ping", 60, "seconds idle before PING")
	sendqLines = flag.Int("sendq", 1024, "lines queued per client")
)

type message struct {
	command string
	params  []string
}

func parse(line string) (message, bool) {
	if strings.ContainsAny(line, "\x00\r\n") {
		return message{}, false
	}
	line = strings.TrimLeft(line, " ")
	if strings.HasPrefix(line, ":") {
		i := strings.IndexByte(line, ' ')
		if i < 0 {
			return message{}, false
		}
		line = strings.TrimLeft(line[i:], " ")
	}
	cmd := line
	rest := ""
	if i := strings.IndexByte(line, ' '); i >= 0 {
		cmd, rest = line[:i], line[i:]
	}
	if !isCommand(cmd) {
		return message{}, false
	}
	m := message{command: strings.ToUpper(cmd)}
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			break
		}
		if rest[0] == ':' {
			m.params = append(m.params, rest[1:])
			break
		}
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			m.params = append(m.params, rest)
			break
		}
		m.params = append(m.params, rest[:i])
		rest = rest[i:]
	}
	return m, true
}

func isCommand(c string) bool {
	if c == "" {
		return false
	}
	letters, digits := true, len(c) == 3
	for _, ch := range []byte(c) {
		letters = letters && (ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z')
		digits = digits && ch >= '0' && ch <= '9'
	}
	return letters || digits
}

func format(prefix, command string, params ...string) string {
	var b strings.Builder
	if prefix != "" {
		b.WriteString(":" + prefix + " ")
	}
	b.WriteString(command)
	for i, p := range params {
		b.WriteByte(' ')
		last := i == len(params)-1
		if last && (i > 0 || p == "" || p[0] == ':' || strings.IndexByte(p, ' ') >= 0) {
			b.WriteByte(':')
		}
		b.WriteString(p)
	}
	s := b.String()
	if len(s) > maxLine-2 {
		s = s[:maxLine-2]
	}
	return s + "\r\n"
}

func ircLower(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		case r == '[':
			return '{'
		case r == ']':
			return '}'
		case r == '\\':
			return '|'
		case r == '~':
			return '^'
		}
		return r
	}, s)
}

type client struct {
	conn                 net.Conn
	host                 string
	sendq                chan string
	nick, user, realname string
	registered, killed   bool
	channels             []string
	quitReason           string
}

func (c *client) prefix() string { return c.nick + "!" + c.user + "@" + c.host }

type channel struct {
	name, topic string
	members     []*client
}

type hub struct {
	mu       sync.Mutex
	nicks    map[string]*client
	channels map[string]*channel
}

func (h *hub) deliver(c *client, line string) {
	if c.killed {
		return
	}
	select {
	case c.sendq <- line:
	default:
		c.killed = true
		c.quitReason = "SendQ exceeded"
		c.conn.Close()
	}
}

func (h *hub) numeric(c *client, code string, params ...string) {
	n := c.nick
	if n == "" {
		n = "*"
	}
	h.deliver(c, format(*serverName, code, append([]string{n}, params...)...))
}

func (h *hub) neighbours(c *client, line string, toSelf bool) {
	told := map[*client]bool{c: true}
	if toSelf {
		h.deliver(c, line)
	}
	for _, name := range c.channels {
		for _, m := range h.channels[name].members {
			if !told[m] {
				told[m] = true
				h.deliver(m, line)
			}
		}
	}
}

func (h *hub) leave(ch *channel, c *client) {
	for i, m := range ch.members {
		if m == c {
			ch.members = append(ch.members[:i], ch.members[i+1:]...)
			break
		}
	}
	key := ircLower(ch.name)
	for i, n := range c.channels {
		if n == key {
			c.channels = append(c.channels[:i], c.channels[i+1:]...)
			break
		}
	}
	if len(ch.members) == 0 {
		delete(h.channels, key)
	}
}

func (h *hub) remove(c *client, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.quitReason == "" {
		c.quitReason = reason
	}
	if c.registered {
		h.neighbours(c, format(c.prefix(), "QUIT", c.quitReason), false)
		for _, name := range append([]string(nil), c.channels...) {
			h.leave(h.channels[name], c)
		}
		delete(h.nicks, ircLower(c.nick))
	}
	h.deliver(c, format("", "ERROR", "Closing Link: "+c.host+" ("+c.quitReason+")"))
	close(c.sendq)
}

func validNick(n string) bool {
	if n == "" || len(n) > 30 {
		return false
	}
	for i, ch := range []byte(n) {
		alpha := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z'
		special := strings.IndexByte("[]\\`_^{|}", ch) >= 0
		if !(alpha || special || i > 0 && (ch >= '0' && ch <= '9' || ch == '-')) {
			return false
		}
	}
	return true
}

func isChannel(n string) bool { return n != "" && (n[0] == '#' || n[0] == '&') }

func member(ch *channel, c *client) bool {
	for _, m := range ch.members {
		if m == c {
			return true
		}
	}
	return false
}

func (h *hub) names(c *client, ch *channel) {
	list := ""
	for _, m := range ch.members {
		if list != "" {
			list += " "
		}
		list += m.nick
		if len(list) > 400 {
			h.numeric(c, "353", "=", ch.name, list)
			list = ""
		}
	}
	if list != "" {
		h.numeric(c, "353", "=", ch.name, list)
	}
	h.numeric(c, "366", ch.name, "End of /NAMES list")
}

func (h *hub) welcome(c *client) {
	c.registered = true
	h.numeric(c, "001", "Welcome to the gort chat network "+c.prefix())
	h.numeric(c, "002", "Your host is "+*serverName+", running version go-chatd-0.1")
	h.numeric(c, "003", "This server runs on Go goroutines")
	h.numeric(c, "004", *serverName, "go-chatd-0.1", "i", "nt")
	h.numeric(c, "005", "CHANTYPES=#&", "NICKLEN=30", "CHANNELLEN=50", "CASEMAPPING=rfc1459", "are supported by this server")
	h.numeric(c, "422", "MOTD File is missing")
}

// handle runs one line; false once the client quits.
func (h *hub) handle(c *client, line string, tooLong bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if tooLong {
		h.numeric(c, "417", "Input line was too long")
		return true
	}
	m, ok := parse(line)
	if !ok {
		return true
	}
	p := m.params
	switch m.command {
	case "QUIT":
		c.quitReason = "Client Quit"
		if len(p) > 0 {
			c.quitReason = "Quit: " + p[0]
		}
		return false
	case "CAP":
		sub := ""
		if len(p) > 0 {
			sub = p[0]
		}
		who := c.nick
		if who == "" {
			who = "*"
		}
		switch sub {
		case "LS", "LIST":
			h.deliver(c, format(*serverName, "CAP", who, sub, ""))
		case "REQ":
			req := ""
			if len(p) > 1 {
				req = p[1]
			}
			h.deliver(c, format(*serverName, "CAP", who, "NAK", req))
		case "END":
		default:
			h.numeric(c, "410", sub, "Invalid CAP command")
		}
	case "NICK":
		if len(p) == 0 || p[0] == "" {
			h.numeric(c, "431", "No nickname given")
			break
		}
		if !validNick(p[0]) {
			h.numeric(c, "432", p[0], "Erroneous nickname")
			break
		}
		key := ircLower(p[0])
		if o, taken := h.nicks[key]; taken && o != c {
			h.numeric(c, "433", p[0], "Nickname is already in use")
			break
		}
		if c.nick != "" {
			delete(h.nicks, ircLower(c.nick))
		}
		h.nicks[key] = c
		if c.registered {
			h.neighbours(c, format(c.prefix(), "NICK", p[0]), true)
			c.nick = p[0]
			break
		}
		c.nick = p[0]
		if c.user != "" {
			h.welcome(c)
		}
	case "USER":
		if c.registered {
			h.numeric(c, "462", "You may not reregister")
			break
		}
		if len(p) < 4 {
			h.numeric(c, "461", "USER", "Not enough parameters")
			break
		}
		c.user, c.realname = p[0], p[3]
		if len(c.user) > 10 {
			c.user = c.user[:10]
		}
		if c.nick != "" {
			h.welcome(c)
		}
	case "PASS", "PONG":
	case "PING":
		if len(p) == 0 {
			h.numeric(c, "409", "No origin specified")
			break
		}
		h.deliver(c, format(*serverName, "PONG", *serverName, p[0]))
	default:
		if !c.registered {
			h.numeric(c, "451", "You have not registered")
			break
		}
		h.registered(c, m)
	}
	return true
}

func (h *hub) registered(c *client, m message) {
	p := m.params
	switch m.command {
	case "JOIN":
		if len(p) == 0 {
			h.numeric(c, "461", "JOIN", "Not enough parameters")
			return
		}
		for _, name := range strings.Split(p[0], ",") {
			if name == "" {
				continue
			}
			if !isChannel(name) || len(name) < 2 || len(name) > 50 {
				h.numeric(c, "403", name, "No such channel")
				continue
			}
			key := ircLower(name)
			ch := h.channels[key]
			if ch == nil {
				ch = &channel{name: name}
				h.channels[key] = ch
			}
			if member(ch, c) {
				continue
			}
			ch.members = append(ch.members, c)
			c.channels = append(c.channels, key)
			line := format(c.prefix(), "JOIN", ch.name)
			for _, mb := range ch.members {
				h.deliver(mb, line)
			}
			if ch.topic != "" {
				h.numeric(c, "332", ch.name, ch.topic)
			}
			h.names(c, ch)
		}
	case "PART":
		if len(p) == 0 {
			h.numeric(c, "461", "PART", "Not enough parameters")
			return
		}
		for _, name := range strings.Split(p[0], ",") {
			ch := h.channels[ircLower(name)]
			if ch == nil {
				h.numeric(c, "403", name, "No such channel")
				continue
			}
			if !member(ch, c) {
				h.numeric(c, "442", ch.name, "You're not on that channel")
				continue
			}
			params := []string{ch.name}
			if len(p) > 1 {
				params = append(params, p[1])
			}
			line := format(c.prefix(), "PART", params...)
			for _, mb := range ch.members {
				h.deliver(mb, line)
			}
			h.leave(ch, c)
		}
	case "PRIVMSG", "NOTICE":
		notice := m.command == "NOTICE"
		if len(p) == 0 {
			if !notice {
				h.numeric(c, "411", "No recipient given ("+m.command+")")
			}
			return
		}
		if len(p) < 2 || p[1] == "" {
			if !notice {
				h.numeric(c, "412", "No text to send")
			}
			return
		}
		for _, target := range strings.Split(p[0], ",") {
			if target == "" {
				continue
			}
			line := format(c.prefix(), m.command, target, p[1])
			if isChannel(target) {
				ch := h.channels[ircLower(target)]
				switch {
				case ch == nil:
					if !notice {
						h.numeric(c, "403", target, "No such channel")
					}
				case !member(ch, c):
					if !notice {
						h.numeric(c, "404", ch.name, "Cannot send to channel")
					}
				default:
					for _, mb := range ch.members {
						if mb != c {
							h.deliver(mb, line)
						}
					}
				}
				continue
			}
			to := h.nicks[ircLower(target)]
			if to == nil || !to.registered {
				if !notice {
					h.numeric(c, "401", target, "No such nick/channel")
				}
				continue
			}
			h.deliver(to, line)
		}
	case "NAMES":
		if len(p) == 0 {
			h.numeric(c, "366", "*", "End of /NAMES list")
			return
		}
		for _, name := range strings.Split(p[0], ",") {
			if ch := h.channels[ircLower(name)]; ch != nil {
				h.names(c, ch)
			} else {
				h.numeric(c, "366", name, "End of /NAMES list")
			}
		}
	case "TOPIC":
		if len(p) == 0 {
			h.numeric(c, "461", "TOPIC", "Not enough parameters")
			return
		}
		ch := h.channels[ircLower(p[0])]
		if ch == nil {
			h.numeric(c, "403", p[0], "No such channel")
			return
		}
		if len(p) < 2 {
			if ch.topic == "" {
				h.numeric(c, "331", ch.name, "No topic is set")
			} else {
				h.numeric(c, "332", ch.name, ch.topic)
			}
			return
		}
		if !member(ch, c) {
			h.numeric(c, "442", ch.name, "You're not on that channel")
			return
		}
		ch.topic = p[1]
		line := format(c.prefix(), "TOPIC", ch.name, ch.topic)
		for _, mb := range ch.members {
			h.deliver(mb, line)
		}
	case "MODE":
		if len(p) == 0 {
			h.numeric(c, "461", "MODE", "Not enough parameters")
			return
		}
		if isChannel(p[0]) {
			ch := h.channels[ircLower(p[0])]
			switch {
			case ch == nil:
				h.numeric(c, "403", p[0], "No such channel")
			case len(p) == 1:
				h.numeric(c, "324", ch.name, "+nt")
			case p[1] == "b" || p[1] == "+b":
				h.numeric(c, "368", ch.name, "End of channel ban list")
			default:
				h.numeric(c, "472", p[1], "is unknown mode char to me")
			}
			return
		}
		switch {
		case ircLower(p[0]) != ircLower(c.nick):
			h.numeric(c, "502", "Cannot change mode for other users")
		case len(p) == 1:
			h.numeric(c, "221", "+")
		default:
			h.numeric(c, "501", "Unknown MODE flag")
		}
	case "WHO":
		target := "*"
		if len(p) > 0 {
			target = p[0]
		}
		h.numeric(c, "315", target, "End of WHO list")
	default:
		h.numeric(c, "421", m.command, "Unknown command")
	}
}

type line struct {
	text    string
	tooLong bool
}

func reader(c *client, inbox chan<- line, done <-chan struct{}) {
	defer close(inbox)
	r := bufio.NewReaderSize(c.conn, 4096)
	for {
		l, err := r.ReadSlice('\n')
		tooLong := false
		if err == bufio.ErrBufferFull {
			// Skip the rest of the line.
			for err == bufio.ErrBufferFull {
				_, err = r.ReadSlice('\n')
			}
			tooLong = true
		}
		if err != nil {
			return
		}
		text := strings.TrimSuffix(strings.TrimSuffix(string(l), "\n"), "\r")
		if len(text) > maxLine-2 {
			tooLong, text = true, ""
		}
		select {
		case inbox <- line{text, tooLong}:
		case <-done:
			return
		}
	}
}

func writer(c *client, written chan<- struct{}) {
	defer close(written)
	broken := false
	for l := range c.sendq {
		batch := l
	gather:
		for len(batch) < 16*1024 {
			select {
			case more, ok := <-c.sendq:
				if !ok {
					break gather
				}
				batch += more
			default:
				break gather
			}
		}
		if broken {
			continue
		}
		if _, err := c.conn.Write([]byte(batch)); err != nil {
			broken = true
			c.conn.Close()
		}
	}
	if tc, ok := c.conn.(*net.TCPConn); ok && !broken {
		tc.CloseWrite()
	}
}

func serve(h *hub, conn net.Conn) {
	host, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
	c := &client{conn: conn, host: host, sendq: make(chan string, *sendqLines)}
	inbox := make(chan line, 8)
	done := make(chan struct{})
	written := make(chan struct{})
	go reader(c, inbox, done)
	go writer(c, written)
	go func() {
		ticker := time.NewTicker(time.Duration(*pingEvery) * time.Second)
		defer ticker.Stop()
		active, awaiting := true, false
		reason := "Connection closed"
	loop:
		for {
			select {
			case l, ok := <-inbox:
				if !ok {
					break loop
				}
				active, awaiting = true, false
				if !h.handle(c, l.text, l.tooLong) {
					break loop
				}
			case <-ticker.C:
				switch {
				case active:
					active = false
				case awaiting:
					reason = "Ping timeout"
					break loop
				default:
					awaiting = true
					h.mu.Lock()
					h.deliver(c, format("", "PING", *serverName))
					h.mu.Unlock()
				}
			}
		}
		h.remove(c, reason)
		close(done)
		select {
		case <-written:
		case <-time.After(5 * time.Second):
			conn.Close()
			<-written
		}
		conn.Close()
	}()
}

func main() {
	listen := flag.String("listen", "127.0.0.1:6667", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(log.Writer(), "go-chatd: listening on %s\n", ln.Addr())
	h := &hub{nicks: map[string]*client{}, channels: map[string]*channel{}}
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Print(err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		serve(h, conn)
	}
}

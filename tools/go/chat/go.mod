module gort/tools/go/chat

go 1.19

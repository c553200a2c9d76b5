module gort/tools/go/bench

go 1.19

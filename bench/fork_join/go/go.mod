module goro/bench/fork_join

go 1.19

module goro.bench/sbs

go 1.19

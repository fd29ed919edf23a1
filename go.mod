module github.com/percpuref/percpu

go 1.24

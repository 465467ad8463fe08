"""Tools for developers and pilots, outside the running service.

The realistic Anambas sample (`pantau load-sample`), the benchmark
(`pantau bench`) and the development PKI (`pantau pki`). They use the core
(the use cases, the placement of points, the data files) and are used by the
`pantau` command and the tests only: the core never imports them.
"""

module promkit.local/kube-build/pause

go 1.26.0

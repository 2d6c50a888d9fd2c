#!/bin/sh
# cni-default.sh DIR CONFLIST: installs crid's default CNI network (CONFLIST)
# into DIR only when DIR holds no CNI configuration at all. The lexically
# first file is the pod network, so a conflist put beside an operator's
# (10-flannel.conflist...) could take the pods onto the wrong network.
set -eu
dir=$1
src=$2
mkdir -p "$dir"
for f in "$dir"/*.conf "$dir"/*.conflist "$dir"/*.json; do
	if [ -e "$f" ]; then
		echo "cni-default: $dir already has $f: crid's default network not installed"
		exit 0
	fi
done
install -m 0644 "$src" "$dir/"
echo "cni-default: installed $(basename "$src") into $dir"

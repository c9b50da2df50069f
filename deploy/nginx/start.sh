#!/bin/sh
# Start nginx in front of every api replica. nginx resolves a name given in a
# variable at request time, through the resolver named in its config; that
# resolver must be the container's own DNS server (127.0.0.11 under Docker,
# the network gateway under Podman), so it is read from /etc/resolv.conf here.
set -eu

resolver=$(awk '/^nameserver/ { print $2; exit }' /etc/resolv.conf)
case "$resolver" in
    *:*) resolver="[$resolver]" ;;
esac
if [ -z "$resolver" ]; then
    echo "no nameserver in /etc/resolv.conf; nginx cannot resolve the api replicas" >&2
    exit 1
fi

sed -e "s/@RESOLVER@/$resolver/" -e "s/@RESOLVER_VALID@/${NGINX_RESOLVER_VALID:-5s}/" \
    /etc/nginx/forecast/nginx.conf.template > /tmp/nginx.conf
echo "nginx: resolving api through $resolver"
exec nginx -e stderr -c /tmp/nginx.conf -g 'daemon off;'

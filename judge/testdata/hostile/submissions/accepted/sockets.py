# Socket families no network namespace isolates or that reach the kernel's
# packet and crypto paths: AF_VSOCK (a VM node's vsock port space),
# AF_PACKET, AF_ALG, netfilter netlink; and a way out by TCP.
import socket, sys
for name, fam, typ, proto in [("AF_VSOCK", 40, socket.SOCK_STREAM, 0), ("AF_PACKET", 17, socket.SOCK_RAW, 0),
                              ("AF_ALG", 38, socket.SOCK_SEQPACKET, 0), ("NETLINK_NETFILTER", 16, socket.SOCK_RAW, 12)]:
    try:
        s = socket.socket(fam, typ, proto)
        s.close()
        print("LEAK socket", name)
        sys.exit(0)
    except OSError:
        pass
try:
    socket.create_connection(("1.1.1.1", 80), timeout=1)
    print("LEAK a connection out")
    sys.exit(0)
except OSError:
    pass
t = int(input())
for _ in range(t):
    a, b = map(int, input().split())
    print(a + b)

using QemuTestKit.Fixtures.Xunit;

namespace DistroGuest.Xunit;

/// <summary>The NIC on QEMU user networking: systemd-networkd gets its address from QEMU's DHCP server.</summary>
public sealed class DistroNetworkTests(QemuFixture qemu) : IClassFixture<QemuFixture>
{
    [Fact]
    public async Task The_network_comes_up_with_the_user_network_address()
    {
        await using var guest = await qemu.StartAsync("distro");

        // The lease may still be on its way when the snapshot was taken: wait for it in the guest.
        var address = await guest.ExecAsync(
            "for i in $(seq 120); do ip -4 -o addr show dev eth0 | grep -q 10.0.2.15 && break; sleep 1; done; " +
            "ip -4 -o addr show dev eth0 | awk '{ print $4 }'", TimeSpan.FromMinutes(4));
        var route = await guest.ExecAsync("ip -4 route show default | awk '{ print $3, $5 }'");

        address.Output.Should().Be("10.0.2.15/24");
        route.Output.Should().Be("10.0.2.2 eth0");
    }
}

using System.Net.Sockets;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.Runtime;

/// <summary>Host forwards with host port 0: machines of the same spec started side by side each get their own free port.</summary>
public sealed class ForwardedPortTests
{
    [Fact]
    public async Task Two_machines_forwarding_host_port_0_get_different_free_ports_that_accept_connections()
    {
        var ct = TestContext.Current.CancellationToken;
        var dir = Directory.CreateTempSubdirectory("qtk-forward-").FullName;
        try
        {
            var catalog = await new CatalogCache(Path.Combine(dir, "cache")).GetAsync("qemu-system-x86_64", ct);
            var spec = GuestSpecs.Hello("forwarding") with { Nics = [new NicSpec("e1000", [new HostForward("tcp", 0, 22), new HostForward("udp", 0, 53)])] };
            // Paused: QEMU binds the forwards when it starts; the guest need not run.
            var options = new MachineStartOptions { Catalog = catalog, Paused = true };
            await using var first = await QemuMachine.StartAsync(spec, options, ct);
            await using var second = await QemuMachine.StartAsync(spec, options, ct);

            var ports = new[] { await first.HostPortAsync(22, cancellationToken: ct), await second.HostPortAsync(22, cancellationToken: ct) };

            ports.Should().OnlyHaveUniqueItems().And.OnlyContain(p => p > 0 && p <= 65535);
            (await first.ForwardedPortsAsync(ct)).Select(p => (p.Protocol, p.GuestPort)).Should().BeEquivalentTo(new[] { ("tcp", 22), ("udp", 53) });
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", ports[0], ct);
            client.Connected.Should().BeTrue("QEMU listens on the port it reports");

            var missing = () => first.HostPortAsync(80, cancellationToken: ct);
            (await missing.Should().ThrowAsync<MachineCommandException>()).Which.Message.Should()
                .Contain("no tcp host port to guest port 80").And.Contain("tcp:").And.Contain("-:22").And.Contain("HostForwards=\"tcp:0-:80\"");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.Replay;

/// <summary>The attach line the replay prints names a gdb that can debug the recorded target.</summary>
public sealed class DebuggerCommandTests
{
    [Theory]
    [InlineData("x86_64", "gdb")]
    [InlineData("i386", "gdb")]
    [InlineData("aarch64", "gdb-multiarch")]
    [InlineData("arm", "gdb-multiarch")]
    [InlineData("riscv64", "gdb-multiarch")]
    public void Plain_gdb_for_x86_and_gdb_multiarch_for_the_rest(string target, string debugger)
    {
        ReverseDebugging.Debugger(target).Should().Be(debugger);
        ReverseDebugging.AttachCommand("127.0.0.1:1234", target)
            .Should().Be($"{debugger} -ex 'set remotetimeout 60' -ex 'target remote 127.0.0.1:1234'");
    }

    [Fact]
    public async Task The_aarch64_attach_command_reaches_a_real_aarch64_stub()
    {
        var ct = TestContext.Current.CancellationToken;
        _ = ExecutableSearch.Find("gdb-multiarch") ?? throw new InvalidOperationException("gdb-multiarch is not installed: run ./build.sh setup (it installs Debian's gdb-multiarch)");
        var port = FreePort();
        using var qemu = Process.Start(new ProcessStartInfo(TestQemu.For("aarch64"))
        {
            ArgumentList = { "-M", "virt", "-cpu", "cortex-a57", "-S", "-nodefaults", "-display", "none", "-gdb", $"tcp:127.0.0.1:{port}" },
            RedirectStandardError = true,
        })!;
        try
        {
            await WaitForPortAsync(port, ct);
            var command = ReverseDebugging.AttachCommand($"127.0.0.1:{port}", "aarch64") + " -batch -ex 'show architecture' -ex 'info registers pc'";
            using var gdb = Process.Start(new ProcessStartInfo("sh", ["-c", command]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var output = gdb.StandardOutput.ReadToEndAsync(ct);
            var errors = gdb.StandardError.ReadToEndAsync(ct);
            await gdb.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);

            (await output).Should().Contain("(currently \"aarch64\")", "gdb-multiarch takes the architecture from QEMU's target description; stderr: {0}", await errors);
            (await errors).Should().NotContain("Truncated register");
        }
        finally
        {
            qemu.Kill(entireProcessTree: true);
            await qemu.WaitForExitAsync(CancellationToken.None);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task WaitForPortAsync(int port, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port, ct);
                return;
            }
            catch (SocketException) when (attempt < 100)
            {
                await Task.Delay(100, ct);
            }
        }
    }
}

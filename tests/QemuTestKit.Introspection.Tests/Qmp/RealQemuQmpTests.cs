using System.Diagnostics;
using System.Text;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Introspection.Qmp;
using static QemuTestKit.Introspection.Tests.Qmp.QmpTestSupport;

namespace QemuTestKit.Introspection.Tests.Qmp;

/// <summary>The client against the real qemu-system-x86_64, on a QMP Unix socket.</summary>
public sealed class RealQemuQmpTests
{
    private const string Binary = "qemu-system-x86_64";

    [Fact]
    public async Task Query_version_stop_cont_and_quit_against_real_QEMU()
    {
        var binary = ExecutableSearch.Find(Binary);
        if (binary is null)
        {
            Assert.Fail($"{Binary} is not installed: run ./build.sh setup (it installs Debian's qemu-system-x86)");
        }

        var directory = Directory.CreateTempSubdirectory("qtk-qmp-").FullName;
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var socketPath = Path.Combine(directory, "qmp.sock");
        var start = new ProcessStartInfo(binary)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[]
                 {
                     "-machine", "none", "-nodefaults", "-no-user-config", "-display", "none", "-S",
                     "-qmp", $"unix:{socketPath},server=on,wait=off",
                 })
        {
            start.ArgumentList.Add(argument);
        }

        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (stderr)
            {
                stderr.AppendLine(e.Data);
            }
        };
        process.OutputDataReceived += (_, _) => { };
        try
        {
            process.Start();
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            await WaitForSocketAsync(process, socketPath, stderr);

            var options = new QmpClientOptions
            {
                ConnectTimeout = TimeSpan.FromSeconds(10),
                CommandTimeout = TimeSpan.FromSeconds(10),
            };
            await using var client = await QmpClient.ConnectUnixAsync(socketPath, options, Ct).WaitAsync(TimeSpan.FromSeconds(20), Ct);

            var version = await client.ExecuteAsync("query-version", cancellationToken: Ct).Bounded();
            version!["qemu"]!["major"]!.GetValue<int>().Should().Be(client.Greeting.Major).And.BeGreaterThan(0);
            client.Greeting.Capabilities.Should().Contain("oob");

            // -S leaves the machine paused, and stopping a paused machine emits nothing: resume it first.
            var mark = client.LastEventSequence;
            await client.ExecuteAsync("cont", cancellationToken: Ct).Bounded();
            var resume = await client.WaitForEventAsync("RESUME", TimeSpan.FromSeconds(5), afterSequence: mark, cancellationToken: Ct).Bounded();
            resume.Sequence.Should().BeGreaterThan(mark);
            (await client.ExecuteAsync("query-status", cancellationToken: Ct).Bounded())!["running"]!.GetValue<bool>().Should().BeTrue();

            mark = client.LastEventSequence;
            await client.ExecuteAsync("stop", cancellationToken: Ct).Bounded();
            var stop = await client.WaitForEventAsync("STOP", TimeSpan.FromSeconds(5), afterSequence: mark, cancellationToken: Ct).Bounded();
            stop.Sequence.Should().BeGreaterThan(mark);
            (await client.ExecuteAsync("query-status", cancellationToken: Ct).Bounded())!["running"]!.GetValue<bool>().Should().BeFalse();

            var error = await ThrowsWithinAsync<QmpErrorException>(
                () => client.ExecuteAsync("no-such-command", cancellationToken: Ct), TimeSpan.FromSeconds(5));
            error.ErrorClass.Should().Be("CommandNotFound");

            try
            {
                await client.ExecuteAsync("quit", cancellationToken: Ct).Bounded();
            }
            catch (QmpDisconnectedException)
            {
                // QEMU may close the socket before its answer to 'quit' is read.
            }

            await client.Closed.Bounded();
            await process.WaitForExitAsync(Ct).WaitAsync(HangLimit, Ct);
            process.ExitCode.Should().Be(0, "QEMU's stderr: {0}", Stderr(stderr));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None).WaitAsync(HangLimit, CancellationToken.None);
            }

            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task WaitForSocketAsync(Process process, string socketPath, StringBuilder stderr)
    {
        var clock = Stopwatch.StartNew();
        while (!File.Exists(socketPath))
        {
            if (process.HasExited)
            {
                Assert.Fail($"{Binary} exited with code {process.ExitCode} before creating its QMP socket: {Stderr(stderr)}");
            }

            if (clock.Elapsed > HangLimit)
            {
                Assert.Fail($"{Binary} did not create its QMP socket within {HangLimit.TotalSeconds} s: {Stderr(stderr)}");
            }

            await Task.Delay(20, Ct);
        }
    }

    private static string Stderr(StringBuilder stderr)
    {
        lock (stderr)
        {
            return stderr.ToString();
        }
    }
}

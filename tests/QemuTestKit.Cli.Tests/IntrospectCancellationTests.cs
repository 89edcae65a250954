using QemuTestKit.Cli.Tests.Support;

namespace QemuTestKit.Cli.Tests;

/// <summary>Ctrl+C (SIGINT) ends the CLI with exit code 130 and "qemutestkit: cancelled", and stops the emulator it started.</summary>
public sealed class IntrospectCancellationTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private async Task<CliResult> InterruptAsync(string binary, string marker, bool markerHasContent)
    {
        if (CliRunner.SigintIgnored())
        {
            Assert.Skip("this test process ignores SIGINT (background job of a non-interactive shell), so its children would too");
        }

        return await CliRunner.RunAsync(
            ["introspect", "--qemu", binary, "--no-cache"],
            _temp.File("cache"),
            TimeSpan.FromSeconds(60),
            whileRunning: async (cli, token) =>
            {
                await FakeQemu.WaitForFileAsync(marker, markerHasContent, token);
                await CliRunner.SignalAsync(cli, "INT", token);
            },
            cancellationToken: TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Ctrl_C_while_waiting_for_the_QMP_greeting_exits_130_and_leaves_no_process_behind()
    {
        // A "QEMU" that never answers: the CLI is still waiting for its greeting when Ctrl+C arrives.
        var pidFile = _temp.File("pid");
        var silent = FakeQemu.Silent(_temp, pidFile);

        var result = await InterruptAsync(silent, pidFile, markerHasContent: true);

        var message = result.ShouldFailCleanly(130, TimeSpan.FromSeconds(30));
        message.Should().Be("qemutestkit: cancelled");
        var pid = (await File.ReadAllTextAsync(pidFile, TestContext.Current.CancellationToken)).Trim();
        Directory.Exists($"/proc/{pid}").Should().BeFalse("the cancelled probe must not leave its process behind");
    }

    [Fact]
    public async Task Ctrl_C_during_the_device_walk_exits_130()
    {
        var walkStarted = _temp.File("walk-started");
        var throttled = FakeQemu.Throttled(_temp, walkStarted);

        var result = await InterruptAsync(throttled, walkStarted, markerHasContent: false);

        var message = result.ShouldFailCleanly(130, TimeSpan.FromSeconds(30));
        message.Should().Be("qemutestkit: cancelled");
    }
}

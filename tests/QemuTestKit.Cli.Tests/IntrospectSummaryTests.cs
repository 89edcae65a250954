using QemuTestKit.Cli.Tests.Support;

namespace QemuTestKit.Cli.Tests;

public sealed class IntrospectSummaryTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Introspect_prints_a_human_summary_and_exits_0()
    {
        var ct = TestContext.Current.CancellationToken;
        var cache = _temp.File("cache");

        var first = await CliRunner.RunAsync(["introspect", "--qemu", CliAssertions.Qemu, "--cache-dir", cache], cache, cancellationToken: ct);

        first.ExitCode.Should().Be(0, first.ToString());
        first.TimedOut.Should().BeFalse();
        var lines = first.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines[0].Should().MatchRegex(@"^QEMU \d+\.\d+\.\d+.*, target x86_64$");
        first.Stdout.Should().MatchRegex(@"(?m)^binary: +/\S+qemu-system-x86_64 \(asked over QMP in \d+\.\d\d s\)$");
        first.Stdout.Should().MatchRegex(@"(?m)^machines: +\d+ \(default pc-i440fx-[\d.]+; .*q35 -> pc-q35-");
        first.Stdout.Should().MatchRegex(@"(?m)^cpus: +\d+ \(including .*qemu64");
        first.Stdout.Should().MatchRegex(@"(?m)^devices: +\d+ described, \d+ unavailable$");
        first.Stdout.Should().MatchRegex(@"(?m)^accelerators: .*tcg");
        first.Stdout.Should().MatchRegex(@"(?m)^qmp: +\d+ commands, schema sha256 [0-9a-f]{16}\.\.\.$");
        first.Stderr.Should().BeEmpty();
        Directory.GetFiles(cache, "*.json").Should().ContainSingle("the catalog is cached in the --cache-dir directory");

        var second = await CliRunner.RunAsync(["introspect", "--qemu", CliAssertions.Qemu, "--cache-dir", cache], cache, cancellationToken: ct);

        second.ExitCode.Should().Be(0, second.ToString());
        second.Stdout.Should().MatchRegex(@"(?m)^binary: +/\S+ \(from the catalog cache\)$");
        second.Stdout.Split('\n')[0].Should().Be(lines[0]);
    }

    [Fact]
    public async Task A_riscv64_summary_lists_cpu_models_from_qom_and_no_empty_lists()
    {
        var ct = TestContext.Current.CancellationToken;
        var cache = _temp.File("cache");
        _ = QemuTestKit.Introspection.Processes.ExecutableSearch.Find("qemu-system-riscv64")
            ?? throw new InvalidOperationException("qemu-system-riscv64 is not installed: run ./build.sh setup (it installs Debian's qemu-system-misc)");

        var run = await CliRunner.RunAsync(["introspect", "--qemu", "qemu-system-riscv64", "--cache-dir", cache], cache, cancellationToken: ct);

        run.ExitCode.Should().Be(0, run.ToString());
        run.Stdout.Split('\n')[0].Should().MatchRegex(@"^QEMU \d+\.\d+\.\d+.*, target riscv64$");
        run.Stdout.Should().MatchRegex(@"(?m)^machines: +\d+ \(default spike\)$", "a binary without aliases has no empty alias list");
        run.Stdout.Should().MatchRegex(@"(?m)^cpus: +[1-9]\d* \(.*\brv64\b.*\bsifive-u54\b.*; from qom-list-types, as the binary has no query-cpu-definitions\)$");
        run.Stdout.Should().NotContain("()").And.NotContain("(including )").And.NotContain("; )");
    }

    [Fact]
    public async Task Help_lists_the_introspect_command()
    {
        var ct = TestContext.Current.CancellationToken;

        var root = await CliRunner.RunAsync(["--help"], _temp.Path, TimeSpan.FromSeconds(60), cancellationToken: ct);
        var verb = await CliRunner.RunAsync(["introspect", "--help"], _temp.Path, TimeSpan.FromSeconds(60), cancellationToken: ct);

        root.ExitCode.Should().Be(0, root.ToString());
        root.Stdout.Should().MatchRegex(@"(?m)^\s+introspect\s+\S");
        verb.ExitCode.Should().Be(0, verb.ToString());
        verb.Stdout.Should().Contain("--qemu").And.Contain("--json").And.Contain("--machine").And.Contain("--device")
            .And.Contain("--cache-dir").And.Contain("--no-cache").And.Contain("--timeout");
    }
}

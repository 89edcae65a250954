using System.Diagnostics;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Console;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.CrossArchitecture;

/// <summary>
/// The test guest of one non-x86 architecture, taken once through the whole product: prepared to a ready state for
/// plain runs and started from it for a command; prepared to a ready state for recorded runs and recorded from it with
/// a checkpoint between commands that print random values, kept as a bundle. What each step took is printed in the
/// test output (docs/guests.md quotes it).
/// </summary>
/// <param name="records">Whether the architecture's recordings replay on the installed QEMU (docs/guests.md).</param>
public abstract class CrossArchitectureFixture(string architecture, bool records) : IAsyncLifetime
{
    private static readonly TimeSpan s_command = TimeSpan.FromSeconds(120);
    private const string RandomValue = "echo val-$(head -c8 /dev/urandom | od -An -tx1 | tr -d ' \\n')";

    private readonly string _root = Directory.CreateTempSubdirectory($"qtk-{architecture}-").FullName;

    public string Architecture => architecture;

    public MachineSpec Spec { get; private set; } = null!;

    public QemuCatalog Catalog { get; private set; } = null!;

    /// <summary>The ready state for plain runs.</summary>
    public ReadyState Plain { get; private set; } = null!;

    /// <summary>The ready state for recorded runs.</summary>
    public ReadyState Ready { get; private set; } = null!;

    public MachineStartOptions Options => new() { Catalog = Catalog };

    /// <summary>The cold boot to the ready line and the snapshot saved there, for plain runs.</summary>
    public TimeSpan Prepare { get; private set; }

    /// <summary>The same for recorded runs (a boot in record mode, then the snapshot rebased onto a fresh log).</summary>
    public TimeSpan PrepareForRecording { get; private set; }

    /// <summary>A plain start from the ready state until its first command (uname -m) has answered.</summary>
    public TimeSpan StartToFirstCommand { get; private set; }

    /// <summary>The same for a recorded start.</summary>
    public TimeSpan RecordedStartToFirstCommand { get; private set; }

    /// <summary>The measurements above, as one line for the test output.</summary>
    public string Timings { get; private set; } = string.Empty;

    public ExecResult Uname { get; private set; } = null!;

    public IReadOnlyList<string> RecordedOutputs { get; private set; } = [];

    public Checkpoint Checkpoint { get; private set; } = null!;

    public string BundlePath { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        Spec = GuestSpecs.For(architecture, $"guest-{architecture}");
        Catalog = await new CatalogCache(Path.Combine(_root, "cache")).GetAsync(TestQemu.For(architecture), ct);

        var stopwatch = Stopwatch.StartNew();
        Plain = await ReadyState.PrepareAsync(Spec, Path.Combine(_root, "plain"), Options, ct);
        Prepare = stopwatch.Elapsed;
        stopwatch.Restart();
        await using (var machine = await Plain.StartAsync(Spec, Options, ct))
        {
            Uname = await machine.ExecAsync("uname -m", s_command, ct);
            StartToFirstCommand = stopwatch.Elapsed;
        }

        Timings = $"{architecture}: prepare (cold boot + savevm) {Prepare.TotalSeconds:F1} s (boot {Plain.BootSeconds:F1} s); " +
            $"start from ready to first command {StartToFirstCommand.TotalSeconds:F2} s";
        if (!records)
        {
            return;
        }

        stopwatch.Restart();
        Ready = await ReadyState.PrepareAsync(Spec, Path.Combine(_root, "recorded"), Options with { IcountShift = CommandLineOptions.DefaultRecordIcountShift }, ct);
        PrepareForRecording = stopwatch.Elapsed;

        stopwatch.Restart();
        await using (var machine = await Ready.StartAsync(Spec, Options with { Mode = RunMode.Record }, ct))
        {
            var outputs = new List<string> { (await machine.ExecAsync(RandomValue, s_command, ct)).Output };
            RecordedStartToFirstCommand = stopwatch.Elapsed;
            outputs.Add((await machine.ExecAsync(RandomValue, s_command, ct)).Output);
            Checkpoint = await machine.CheckpointAsync("after-two", ct);
            outputs.Add((await machine.ExecAsync(RandomValue + "; uname -r", s_command, ct)).Output);
            RecordedOutputs = outputs;
            BundlePath = await machine.KeepAsBundleAsync(Path.Combine(_root, "bundle"), new BundleTest($"CrossArchitecture.{architecture}"), ct);
        }

        Timings += $"; prepare for recording {PrepareForRecording.TotalSeconds:F1} s (boot in record mode {Ready.BootSeconds:F1} s), " +
            $"recorded start to first command {RecordedStartToFirstCommand.TotalSeconds:F2} s";
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return ValueTask.CompletedTask;
    }
}

/// <summary>Debian's arm64 kernel on <c>virt</c> with a Cortex-A57, console on the PL011.</summary>
public sealed class Aarch64GuestFixture() : CrossArchitectureFixture("aarch64", records: true);

/// <summary>
/// Debian's riscv64 kernel on <c>virt</c> (OpenSBI, Sstc), console on the 16550. Not recorded: QEMU before 10.2 keeps
/// no RISC-V timer across a snapshot, so recordings that start from the ready snapshot do not replay (QTK1028).
/// </summary>
public sealed class Riscv64GuestFixture() : CrossArchitectureFixture("riscv64", records: false);

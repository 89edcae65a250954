using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.CrossArchitecture;

/// <summary>What works on every non-x86 test guest: one derived class (and one fixture) per architecture.</summary>
public abstract class CrossArchitectureTests<TFixture>(TFixture fixture)
    where TFixture : CrossArchitectureFixture
{
    protected TFixture Fixture => fixture;

    [Fact]
    public void A_command_run_from_the_ready_state_answers_with_its_output_and_exit_code()
    {
        fixture.Uname.ExitCode.Should().Be(0);
        fixture.Uname.Output.Should().Be(fixture.Architecture);
        fixture.Spec.QemuBinary.Should().Be($"qemu-system-{fixture.Architecture}");
    }

    [Fact]
    public async Task A_failing_command_reports_its_exit_code()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var machine = await fixture.Plain.StartAsync(fixture.Spec, fixture.Options, ct);

        var result = await machine.ExecAsync("cat /proc/cpuinfo >/dev/null; ls /no-such-file", TimeSpan.FromSeconds(120), ct);

        result.ExitCode.Should().NotBe(0);
        result.Output.Should().Contain("/no-such-file");
    }

    [Fact]
    public void The_ready_state_keeps_its_ram_in_the_snapshot_because_the_board_rewrites_its_kernel_into_ram_at_reset()
    {
        // GuestMemoryFile.Applies: with the RAM in a separate file, these guests never answered after a start.
        fixture.Plain.MemoryFile.Should().BeNull();
    }

    [Fact]
    public void Starting_from_the_ready_state_is_faster_than_a_cold_boot()
    {
        TestContext.Current.TestOutputHelper?.WriteLine(fixture.Timings);
        fixture.StartToFirstCommand.Should().BeLessThan(TimeSpan.FromSeconds(fixture.Plain.BootSeconds), fixture.Timings);
    }
}

/// <summary>Adds recording, checkpoints and replays, for the architectures whose recordings replay.</summary>
public abstract class RecordedCrossArchitectureTests<TFixture>(TFixture fixture) : CrossArchitectureTests<TFixture>(fixture)
    where TFixture : CrossArchitectureFixture
{
    [Fact]
    public void The_recorded_run_printed_random_values_around_its_checkpoint()
    {
        Fixture.RecordedOutputs[0].Should().MatchRegex("^val-[0-9a-f]{16}$");
        Fixture.RecordedOutputs[1].Should().MatchRegex("^val-[0-9a-f]{16}$").And.NotBe(Fixture.RecordedOutputs[0]);
        Fixture.Checkpoint.Icount.Should().BeGreaterThan(0);
        Fixture.Checkpoint.TranscriptOffset.Should().BeGreaterThan(0);
        // How long the recorded start took is a benchmark's business (bench snapshot-start --arch): under load 13 it
        // took 13 s on aarch64 against a 5.5 s boot, which is an open finding, not this test's subject.
        TestContext.Current.TestOutputHelper?.WriteLine(Fixture.Timings);
    }

    [Fact]
    public async Task The_bundle_replays_identical_from_the_start()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(Fixture.BundlePath, ct);
        var recorded = await File.ReadAllBytesAsync(bundle.TranscriptPath, ct);

        var result = await Replayer.ReplayAsync(bundle, cancellationToken: ct);

        result.Identical.Should().BeTrue($"{result.Verdict}; recorded '{result.Recorded}', replayed '{result.Replayed}'");
        result.ComparedBytes.Should().Be(recorded.Length);
        bundle.Manifest.Spec.Architecture.Should().Be(Fixture.Architecture);
    }

    [Fact]
    public async Task The_bundle_replays_identical_from_its_checkpoint()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(Fixture.BundlePath, ct);
        var recorded = await File.ReadAllBytesAsync(bundle.TranscriptPath, ct);

        var result = await Replayer.ReplayAsync(bundle, new ReplayOptions { FromCheckpoint = "after-two" }, ct);

        result.Identical.Should().BeTrue($"{result.Verdict}; recorded '{result.Recorded}', replayed '{result.Replayed}'");
        result.From.Should().Be("after-two");
        result.ComparedBytes.Should().Be(recorded.Length - Fixture.Checkpoint.TranscriptOffset);
        System.Text.Encoding.UTF8.GetString(recorded, (int)Fixture.Checkpoint.TranscriptOffset, (int)result.ComparedBytes)
            .Should().Contain(Fixture.RecordedOutputs[2].Split('\n')[0]).And.NotContain(Fixture.RecordedOutputs[1]);
    }

    [Fact]
    public async Task A_replay_until_the_checkpoints_icount_stops_there_identical()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(Fixture.BundlePath, ct);

        var result = await Replayer.ReplayAsync(bundle, new ReplayOptions { Until = ReplayUntil.AtIcount(Fixture.Checkpoint.Icount) }, ct);

        result.Identical.Should().BeTrue(result.Verdict);
        result.StoppedAtIcount.Should().Be(Fixture.Checkpoint.Icount);
        result.ComparedBytes.Should().Be(Fixture.Checkpoint.TranscriptOffset);
    }

    /// <summary>With the architecture's debugger: gdb-multiarch, since Debian's gdb cannot read the aarch64 stub's registers.</summary>
    [Fact]
    public Task Reverse_stepi_under_the_architectures_gdb_returns_to_the_previous_program_counter()
        => ReverseStepCheck.RunAsync(Fixture.BundlePath, ReverseDebugging.Debugger(Fixture.Architecture),
            new ReplayOptions { Until = ReplayUntil.AtIcount(Fixture.Checkpoint.Icount) }, "ready", Fixture.Checkpoint.Icount);
}

public sealed class Aarch64GuestTests(Aarch64GuestFixture fixture)
    : RecordedCrossArchitectureTests<Aarch64GuestFixture>(fixture), IClassFixture<Aarch64GuestFixture>;

public sealed class Riscv64GuestTests(Riscv64GuestFixture fixture)
    : CrossArchitectureTests<Riscv64GuestFixture>(fixture), IClassFixture<Riscv64GuestFixture>
{
    /// <summary>
    /// A guest timer armed after the start from the ready snapshot fires: this is what stalls when QEMU 7.2 loses the
    /// timer deadlines that were armed when the snapshot was saved (RiscvTimers).
    /// </summary>
    [Fact]
    public async Task A_sleep_after_a_start_from_the_ready_state_returns()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var machine = await Fixture.Plain.StartAsync(Fixture.Spec, Fixture.Options, ct);

        var result = await machine.ExecAsync("sleep 1; grep -o sstc /proc/cpuinfo | head -n1", TimeSpan.FromSeconds(120), ct);

        result.ExitCode.Should().Be(0);
        result.Output.Should().Be("sstc", "the virt board's default CPU has the Sstc extension, the timer QEMU 7.2 does not save");
    }

    [Fact]
    public async Task A_recorded_start_is_refused_with_QTK1028_before_QEMU_starts()
    {
        var ct = TestContext.Current.CancellationToken;

        var act = () => QemuMachine.StartAsync(Fixture.Spec, Fixture.Options with { Mode = RunMode.Record }, ct);

        (await act.Should().ThrowAsync<MachineStartException>())
            .WithMessage($"QTK1028: machine '{Fixture.Spec.Name}': *cannot be replayed by qemu-system-riscv64 {Fixture.Catalog.QemuVersion}*QEMUTESTKIT_RECORD=false*");
    }
}

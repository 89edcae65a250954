using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Tests.Runtime;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.Recording;

/// <summary>
/// A recording that QEMU 7.2 can run backwards (see <see cref="ReverseDebugging"/>), made the default way: the test
/// guest started in record mode from a ready state prepared for recording (its ready snapshot is at ~6.3e9
/// instructions, past the 2^31 that broke reverse steps before), with a checkpoint once its shell answers and a
/// command after it. Nothing special is asked for: recorded x86 machines go without kvmvapic by default.
/// </summary>
public sealed class ReverseDebuggableSessionFixture : IAsyncLifetime
{
    public const string CheckpointName = "before-debug";

    /// <summary>The command typed before the checkpoint; its answer is 42.</summary>
    public const string Question = "echo $((6*7))";

    public string Root { get; } = Directory.CreateTempSubdirectory("qtk-gdb-").FullName;

    public string BundlePath { get; private set; } = null!;

    public Checkpoint Checkpoint { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        var catalog = await new CatalogCache(Path.Combine(Root, "cache")).GetAsync(TestQemu.X86, ct);
        var spec = GuestSpecs.Hello("gdb-guest");
        var options = new MachineStartOptions { Catalog = catalog };
        var ready = await ReadyState.PrepareAsync(spec, Path.Combine(Root, "state"), options with { IcountShift = 5 }, ct);
        await using var machine = await ready.StartAsync(spec, options with { Mode = RunMode.Record }, ct);
        // Short lines, no shell session: each fits the UART's 16-byte FIFO, which recorded serial input can overrun
        // under load (seen here: a cold boot's first synced command lost 16 bytes and left the shell in a quote).
        await machine.SendLineAsync(Question, ct);
        await machine.WaitForAsync(new Regex(@"^42\r?$", RegexOptions.Multiline), TimeSpan.FromSeconds(120), ct);
        Checkpoint = await machine.CheckpointAsync(CheckpointName, ct);
        await machine.SendLineAsync("uptime", ct);
        await machine.WaitForAsync(new Regex("load average"), TimeSpan.FromSeconds(120), ct);
        BundlePath = await machine.KeepAsBundleAsync(Path.Combine(Root, "gdb-session"), new BundleTest(nameof(ReverseDebuggableSessionFixture)), ct);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(Root, recursive: true);
        return ValueTask.CompletedTask;
    }
}

public sealed class GdbReplayTests(ReverseDebuggableSessionFixture session) : IClassFixture<ReverseDebuggableSessionFixture>
{
    /// <summary>
    /// The issue's test, after QEMU's tests/avocado/reverse_debugging.py: a real gdb attached in batch mode to a replay
    /// held at a checkpoint steps forward, steps back, and finds the previous program counter and instruction count;
    /// stepping forward again reaches the same place; after gdb detaches the replay runs to its end identically. The
    /// replay is held one instruction after the checkpoint, reached by a seek (ReplayUntil.SeekAsync): standing paused
    /// at the checkpoint itself stalled gdb's first stepi for good with some recordings.
    /// </summary>
    [Fact]
    public Task Reverse_stepi_under_a_real_gdb_returns_to_the_previous_program_counter()
        => ReverseStepCheck.RunAsync(session.BundlePath, "gdb", new ReplayOptions { FromCheckpoint = ReverseDebuggableSessionFixture.CheckpointName },
            ReverseDebuggableSessionFixture.CheckpointName, until: session.Checkpoint.Icount + 1);

    /// <summary>
    /// The same from the recording's start (the ready snapshot) with <c>--until</c>: the replay runs to the chosen
    /// instruction count, stops exactly there, waits for gdb, and gdb steps back across instructions QEMU replays from
    /// the ready snapshot. The break is where the guest echoed the typed question, before the checkpoint: a replay paused
    /// at the checkpoint's own icount can stall for good (gdb's first stepi stood still twice in eleven runs on QEMU 7.2),
    /// because QEMU goes on taking the log's timer events recorded around the checkpoint's stop while it stands paused
    /// (ReplayUntil.SeekAsync; docs/cli.md).
    /// </summary>
    [Fact]
    public async Task Reverse_stepi_works_after_a_replay_from_the_ready_snapshot_stopped_at_an_icount()
    {
        var ct = TestContext.Current.CancellationToken;
        long icount;
        await using (var opened = await ReplayBundle.OpenAsync(session.BundlePath, ct))
        {
            var recorded = System.Text.Encoding.UTF8.GetString(await File.ReadAllBytesAsync(opened.TranscriptPath, ct));
            // The echo of the typed command: the answer's own chunk can be stamped while the checkpoint stops the guest.
            var typed = recorded.IndexOf(ReverseDebuggableSessionFixture.Question, StringComparison.Ordinal);
            typed.Should().BeGreaterThanOrEqualTo(0, recorded);
            icount = await TranscriptMap.IcountAfterAsync(opened, typed + ReverseDebuggableSessionFixture.Question.Length, ct);
        }

        icount.Should().BeLessThan(session.Checkpoint.Icount);
        await ReverseStepCheck.RunAsync(session.BundlePath, "gdb", new ReplayOptions { Until = ReplayUntil.AtIcount(icount) }, "ready", icount);
    }
}

/// <summary>The rules of <see cref="ReverseDebugging"/>, without QEMU.</summary>
public sealed class ReverseDebuggingRulesTests
{
    [Fact]
    public void A_cold_boot_recording_without_kvmvapic_can_run_backwards()
        => ReverseDebugging.Problems(new ReverseDebuggingFacts(false, null, true, 6_286_524_392, true)).Should().BeEmpty();

    [Fact]
    public void A_recording_from_a_snapshot_saved_in_record_mode_can_run_backwards()
        => ReverseDebugging.Problems(new ReverseDebuggingFacts(false, "ready", true, 6_286_524_392, true)).Should().BeEmpty();

    [Fact]
    public void A_recording_from_a_snapshot_saved_outside_recording_early_in_the_run_can_run_backwards()
        => ReverseDebugging.Problems(new ReverseDebuggingFacts(false, "ready", false, (1L << 31) - 1, true)).Should().BeEmpty();

    [Fact]
    public void A_recording_from_a_snapshot_saved_outside_recording_late_in_the_run_cannot()
        => ReverseDebugging.Problems(new ReverseDebuggingFacts(false, "ready", false, 6_286_334_365, true)).Should().ContainSingle()
            .Which.Should().Contain("snapshot 'ready'").And.Contain("instruction count 6286334365 (2^31 or more)").And.Contain("2^32");

    [Fact]
    public void From_a_checkpoint_the_start_icount_is_only_bounded()
        => ReverseDebugging.Problems(new ReverseDebuggingFacts(false, "ready", false, 6_299_473_059, false)).Should().ContainSingle()
            .Which.Should().Contain("instruction count up to 6299473059");

    [Fact]
    public void A_machine_with_kvmvapic_cannot()
        => ReverseDebugging.Problems(new ReverseDebuggingFacts(true, null, true, 0, true)).Should().ContainSingle()
            .Which.Should().Contain("kvmvapic").And.Contain("-global apic-common.vapic=off");


    [Fact]
    public void The_attach_command_raises_the_packet_timeout_and_quotes_the_endpoint_for_a_shell()
    {
        ReverseDebugging.AttachCommand("127.0.0.1:1234").Should().Be("gdb -ex 'set remotetimeout 60' -ex 'target remote 127.0.0.1:1234'");
        ReverseDebugging.AttachCommand("/tmp/it's/gdb.sock").Should().Be("gdb -ex 'set remotetimeout 60' -ex 'target remote /tmp/it'\\''s/gdb.sock'");
    }
}

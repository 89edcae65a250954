using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Tests.Recording;

public sealed class ReplayTests(RecordedSessionFixture fixture) : IClassFixture<RecordedSessionFixture>
{
    [Fact]
    public void The_recorded_session_printed_random_values()
    {
        fixture.RecordedOutputs[0].Should().MatchRegex("^val-[0-9a-f]{16}$");
        fixture.RecordedOutputs[1].Should().MatchRegex("^val-[0-9a-f]{16}$").And.NotBe(fixture.RecordedOutputs[0]);
        fixture.Checkpoint.Icount.Should().BeGreaterThan(0);
        fixture.Checkpoint.TranscriptOffset.Should().BeGreaterThan(0);
    }

    [Fact]
    public async Task Replaying_ten_times_gives_the_recorded_console_byte_for_byte_each_time()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(fixture.BundlePath, ct);
        var recorded = await File.ReadAllBytesAsync(bundle.TranscriptPath, ct);

        for (var i = 0; i < 10; i++)
        {
            var result = await Replayer.ReplayAsync(bundle, cancellationToken: ct);

            result.Identical.Should().BeTrue($"replay {i + 1}: {result.Verdict}; recorded '{result.Recorded}', replayed '{result.Replayed}'");
            result.ComparedBytes.Should().Be(recorded.Length);
            result.Verdict.Should().Be($"replay: identical ({recorded.Length} bytes from ready)");
            result.RelayedCheckpoints.Should().Equal(["after-two"], "a replay goes on from each checkpoint it passes as the recording saved it");
        }
    }

    /// <summary>
    /// A burst of console output faster than the host reads it. On a Unix socket each 1-byte write of the UART is its own
    /// buffer (about 280 unread bytes fill the socket), and a write QEMU could not make is retried from its main loop,
    /// at a moment the replay cannot reproduce: the replay then ended early ("Missing character write event").
    /// </summary>
    [Fact]
    public async Task A_burst_of_output_faster_than_the_host_reads_replays_identical()
    {
        var ct = TestContext.Current.CancellationToken;
        var bundlePath = await fixture.RecordAndKeepAsync("burst", async (machine, ct) =>
        {
            var burst = await machine.ExecAsync("seq 1 20000; echo val-$(head -c8 /dev/urandom | od -An -tx1 | tr -d ' \\n')", TimeSpan.FromSeconds(300), ct);
            burst.Output.Should().StartWith("1\n2\n").And.Contain("\n20000\nval-");
        }, ct);

        await using var bundle = await ReplayBundle.OpenAsync(bundlePath, ct);
        await ReplaysIdenticallyAsync(bundle, ct);
    }

    private static async Task ReplaysIdenticallyAsync(ReplayBundle bundle, CancellationToken ct)
    {
        var result = await Replayer.ReplayAsync(bundle, cancellationToken: ct);

        result.Identical.Should().BeTrue($"{result.Verdict}; recorded '{result.Recorded}', replayed '{result.Replayed}'");
        result.ComparedBytes.Should().Be(bundle.Manifest.Transcript.Length);
    }

    [Fact]
    public async Task A_replay_that_prints_less_than_the_recording_says_how_QEMU_ended()
    {
        var ct = TestContext.Current.CancellationToken;
        // A copy of the bundle whose transcript claims bytes the recorded run never printed: the replay runs out first.
        var copy = Path.Combine(fixture.Root, "longer-transcript.qtkreplay");
        foreach (var file in Directory.GetFiles(fixture.BundlePath, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(fixture.BundlePath, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        await using var bundle = await ReplayBundle.OpenAsync(copy, ct);
        var recorded = (await File.ReadAllBytesAsync(bundle.TranscriptPath, ct)).Length;
        await File.AppendAllTextAsync(bundle.TranscriptPath, "never printed", ct);

        var result = await Replayer.ReplayAsync(bundle, cancellationToken: ct);

        result.Identical.Should().BeFalse();
        result.DivergedAt.Should().Be(recorded);
        result.EndedEarly.Should().MatchRegex("^(QEMU exited \\(code \\d+\\)|QEMU's replay log ended \\(query-replay reports mode none\\))")
            .And.EndWith($"after {recorded} of the recording's {recorded + 13} console bytes");
        result.Verdict.Should().Be($"replay: diverged at byte {recorded}: {result.EndedEarly}");
    }

    /// <summary>
    /// A recorded start from the ready snapshot maps the guest's RAM from the shared sparse file (RamBackingFile): QEMU
    /// has it mapped, the recorded arguments do not name it, the bundle keeps the RAM id, and its replay maps the file
    /// too and replays byte for byte. (Replays of the other kind, a recording in QEMU's own RAM replayed from the file
    /// and the reverse, are what the ready state's preparation and the CLI's replays of older bundles do.)
    /// </summary>
    [Fact]
    public async Task A_recorded_start_maps_its_ram_from_the_sparse_file_and_its_bundle_replays_identically()
    {
        var ct = TestContext.Current.CancellationToken;
        var bundlePath = await fixture.RecordAndKeepAsync("ram-file", async (machine, ct) =>
        {
            var maps = await File.ReadAllTextAsync($"/proc/{machine.ProcessId}/maps", ct);
            maps.Should().Contain("/ram/zero-256M",
                "QEMU loads the ready snapshot's RAM into a private mapping of the cache's zero file (not on tmpfs here: ~/.cache or QEMUTESTKIT_CACHE_DIR)");
            machine.Arguments.Should().NotContain(a => a.Contains("memory-backend", StringComparison.Ordinal), "a bundle's arguments stay portable");
            (await machine.ExecAsync("echo val-$(head -c8 /dev/urandom | od -An -tx1 | tr -d ' \\n')", TimeSpan.FromSeconds(120), ct)).Output
                .Should().MatchRegex("^val-[0-9a-f]{16}$");
        }, ct);

        await using var bundle = await ReplayBundle.OpenAsync(bundlePath, ct);
        bundle.Manifest.DefaultRamId.Should().Be("pc.ram", "q35's default RAM id, which a replay needs before its catalog is read");
        await using (var session = await Replayer.StartAsync(bundle, cancellationToken: ct))
        {
            (await File.ReadAllTextAsync($"/proc/{session.Machine.ProcessId}/maps", ct)).Should().Contain("/ram/zero-256M");
        }

        await ReplaysIdenticallyAsync(bundle, ct);
    }

    [Fact]
    public async Task Replaying_from_a_checkpoint_replays_exactly_the_recorded_suffix()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(fixture.BundlePath, ct);
        var recorded = await File.ReadAllBytesAsync(bundle.TranscriptPath, ct);

        var result = await Replayer.ReplayAsync(bundle, new ReplayOptions { FromCheckpoint = "after-two" }, ct);

        result.Identical.Should().BeTrue(result.Verdict);
        result.ComparedBytes.Should().Be(recorded.Length - fixture.Checkpoint.TranscriptOffset);
        result.From.Should().Be("after-two");
        System.Text.Encoding.UTF8.GetString(recorded, (int)fixture.Checkpoint.TranscriptOffset, (int)result.ComparedBytes)
            .Should().Contain(fixture.RecordedOutputs[2].Split('\n')[0]).And.NotContain(fixture.RecordedOutputs[1]);
    }

    [Fact]
    public async Task A_transcript_offset_maps_to_an_icount_stamped_before_that_output()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(fixture.BundlePath, ct);
        var offset = bundle.Manifest.Transcript.Length - 1;

        var icount = await TranscriptMap.IcountBeforeAsync(bundle, offset, ct);

        icount.Should().BeGreaterThan(0);
        (await TranscriptMap.IcountBeforeAsync(bundle, fixture.Checkpoint.TranscriptOffset + 1, ct)).Should().BeLessThanOrEqualTo(icount);
        var outside = () => TranscriptMap.IcountBeforeAsync(bundle, bundle.Manifest.Transcript.Length + 5, ct);
        (await outside.Should().ThrowAsync<ReplayException>()).Which.Message.Should().Contain("outside the transcript");
    }

    [Fact]
    public async Task A_replay_stops_exactly_at_a_chosen_icount_with_the_recorded_console_up_to_there()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(fixture.BundlePath, ct);
        var recorded = await File.ReadAllBytesAsync(bundle.TranscriptPath, ct);
        // The checkpoint: the recording stood still there, with exactly TranscriptOffset bytes printed.
        var target = fixture.Checkpoint.Icount;
        target.Should().BeGreaterThan(1L << 32, "the ready state is past 2^32 instructions, where QEMU 7.2's 32-bit steps used to lose breaks");

        // With a gdb stub too: gdb attaches at the break, so the replay starts running (a paused start can stall).
        await using (var session = await Replayer.StartAsync(bundle, new ReplayOptions { Until = ReplayUntil.AtIcount(target), Gdb = new GdbStub() }, ct))
        {
            session.UntilIcount.Should().Be(target);
            session.Machine.Arguments.Should().NotContain("-S", "a replay to a break starts running, with or without gdb");
            session.GdbEndpoint.Should().NotBeNull();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
            while ((await session.Machine.Qmp.ExecuteAsync("query-status", cancellationToken: ct))!["running"]!.GetValue<bool>())
            {
                DateTime.UtcNow.Should().BeBefore(deadline, "the replay should reach its break");
                await Task.Delay(20, ct);
            }

            (await ReplayIcount.QueryAsync(session.Machine.Qmp, ct)).Should().Be(target);
        }

        var result = await Replayer.ReplayAsync(bundle, new ReplayOptions { Until = ReplayUntil.AtIcount(target) }, ct);

        result.Identical.Should().BeTrue(result.Verdict);
        result.StoppedAtIcount.Should().Be(target);
        result.ComparedBytes.Should().Be(fixture.Checkpoint.TranscriptOffset).And.BeLessThan(recorded.Length);
        result.Verdict.Should().Be($"replay: identical ({fixture.Checkpoint.TranscriptOffset} bytes from ready, stopped at icount {target})");
    }

    [Fact]
    public async Task A_replay_until_a_transcript_offset_stops_once_that_byte_is_out()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(fixture.BundlePath, ct);
        var recorded = System.Text.Encoding.UTF8.GetString(await File.ReadAllBytesAsync(bundle.TranscriptPath, ct));
        var offset = recorded.IndexOf(fixture.RecordedOutputs[2].Split('\n')[0], StringComparison.Ordinal);
        offset.Should().BeGreaterThan((int)fixture.Checkpoint.TranscriptOffset);

        var result = await Replayer.ReplayAsync(bundle, new ReplayOptions { FromCheckpoint = "after-two", Until = ReplayUntil.AtOffset(offset) }, ct);

        result.Identical.Should().BeTrue(result.Verdict);
        result.StoppedAtIcount.Should().Be(await TranscriptMap.IcountAfterAsync(bundle, offset, ct)).And.BeGreaterThan(fixture.Checkpoint.Icount);
        (fixture.Checkpoint.TranscriptOffset + result.ComparedBytes).Should().BeGreaterThan(offset).And.BeLessThan(recorded.Length);
    }

    [Fact]
    public async Task A_break_right_after_the_start_starts_the_replay_paused_once_and_stops_there()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(fixture.BundlePath, ct);
        var checkpoint = fixture.Checkpoint;
        var target = checkpoint.Icount + 1;
        // A running replay is past this break before QMP can set it: predicted from the checkpoint, not learnt from a first start.
        var start = await ReplayUntil.StartSnapshotIcountAsync(bundle, ct);
        start.Icount.Should().NotBeNull().And.BeLessThan(checkpoint.Icount);
        ReplayUntil.IsNearStart(checkpoint, start.Icount, target).Should().BeTrue();
        ReplayUntil.IsNearStart(checkpoint, start.Icount, checkpoint.Icount + ReplayUntil.NearStart).Should().BeFalse();
        ReplayUntil.IsNearStart(null, start.Icount, target).Should().BeFalse("the recording's start lies far before the checkpoint");

        await BreaksRightAfterAsync(bundle, checkpoint, ct);
    }

    /// <summary>
    /// Every checkpoint of a recording with several: a replay from each, held for a break one instruction after it,
    /// stands paused at the start snapshot (never at the checkpoint) and gets there. A replay standing paused at the
    /// checkpoint stalls for good at some checkpoints (3 of 32 of the bundle-size benchmark's recordings, each every
    /// time; ReplayUntil.SeekAsync), and a recording of this test had one too.
    /// </summary>
    [Fact]
    public async Task A_replay_held_right_after_each_of_many_checkpoints_reaches_its_break()
    {
        var ct = TestContext.Current.CancellationToken;
        var bundlePath = await fixture.RecordAndKeepAsync("many-checkpoints", async (machine, ct) =>
        {
            for (var i = 1; i <= 8; i++)
            {
                (await machine.ExecAsync($"echo step-{i}", TimeSpan.FromSeconds(120), ct)).Output.Should().Be($"step-{i}");
                await machine.CheckpointAsync($"c{i}", ct);
            }

            // The last checkpoint too gets instructions after it: a recording kept right after one can end before the
            // guest runs again, and then no replay reaches one instruction past it (QEMU replays the quit and exits).
            (await machine.ExecAsync("echo done", TimeSpan.FromSeconds(120), ct)).Output.Should().Be("done");
        }, ct);
        await using var bundle = await ReplayBundle.OpenAsync(bundlePath, ct);
        bundle.Manifest.Checkpoints.Should().HaveCount(8);

        foreach (var checkpoint in bundle.Manifest.Checkpoints)
        {
            await BreaksRightAfterAsync(bundle, checkpoint, ct);
        }

        // Replays that pass later checkpoints go on from each as the recording saved it (CheckpointRelay), and still stop
        // where asked: past a checkpoint, and at a checkpoint's own icount.
        var full = await Replayer.ReplayAsync(bundle, cancellationToken: ct);
        full.Identical.Should().BeTrue(full.Verdict);
        full.RelayedCheckpoints.Should().Equal(bundle.Manifest.Checkpoints.Select(c => c.Name));

        var c = bundle.Manifest.Checkpoints.ToDictionary(c => c.Name);
        var pastC5 = await Replayer.ReplayAsync(bundle, new ReplayOptions { FromCheckpoint = "c2", Until = ReplayUntil.AtIcount(c["c5"].Icount + 1) }, ct);
        pastC5.Identical.Should().BeTrue(pastC5.Verdict);
        pastC5.StoppedAtIcount.Should().Be(c["c5"].Icount + 1);
        pastC5.RelayedCheckpoints.Should().Equal("c3", "c4", "c5");

        var atC4 = await Replayer.ReplayAsync(bundle, new ReplayOptions { FromCheckpoint = "c2", Until = ReplayUntil.AtIcount(c["c4"].Icount) }, ct);
        atC4.Identical.Should().BeTrue(atC4.Verdict);
        atC4.StoppedAtIcount.Should().Be(c["c4"].Icount);
        atC4.ComparedBytes.Should().Be(c["c4"].TranscriptOffset - c["c2"].TranscriptOffset);
        atC4.RelayedCheckpoints.Should().Equal("c3");
    }

    /// <summary>A replay from <paramref name="checkpoint"/> with a break one instruction after it: held paused at the start snapshot, it seeks there and stops.</summary>
    private static async Task BreaksRightAfterAsync(ReplayBundle bundle, Checkpoint checkpoint, CancellationToken ct)
    {
        var target = checkpoint.Icount + 1;
        await using var session = await Replayer.StartAsync(bundle, new ReplayOptions { FromCheckpoint = checkpoint.Name, Until = ReplayUntil.AtIcount(target) }, ct);
        session.Machine.Arguments.Should().Contain("-S").And.Contain(a => a.Contains($",rrsnapshot={bundle.Manifest.StartSnapshot}", StringComparison.Ordinal),
            "it stands paused at the start snapshot, never at the checkpoint");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while ((await session.Machine.Qmp.ExecuteAsync("query-status", cancellationToken: ct))!["running"]!.GetValue<bool>())
        {
            DateTime.UtcNow.Should().BeBefore(deadline, $"the replay from {checkpoint.Name} should reach its break");
            await Task.Delay(20, ct);
        }

        (await ReplayIcount.QueryAsync(session.Machine.Qmp, ct)).Should().Be(target, checkpoint.Name);
    }

    [Fact]
    public async Task A_break_before_the_replays_start_or_after_its_end_is_a_clear_error()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(fixture.BundlePath, ct);

        var before = () => Replayer.ReplayAsync(bundle, new ReplayOptions { FromCheckpoint = "after-two", Until = ReplayUntil.AtIcount(fixture.Checkpoint.Icount - 1) }, ct);
        (await before.Should().ThrowAsync<ReplayException>()).Which.Message.Should().Contain("before this replay's start").And.Contain("after-two");

        var after = () => Replayer.ReplayAsync(bundle, new ReplayOptions { FromCheckpoint = "after-two", Until = ReplayUntil.AtIcount(long.MaxValue / 2) }, ct);
        (await after.Should().ThrowAsync<ReplayException>()).Which.Message.Should().Contain("the recording ended before icount");
    }

    [Fact]
    public async Task The_ready_state_for_recording_holds_only_ready_with_an_icount_and_refuses_normal_runs()
    {
        var ct = TestContext.Current.CancellationToken;
        var ready = fixture.Ready;
        ready.Ready.ForRecording.Should().BeTrue();
        var snapshots = await new QemuTestKit.Introspection.Images.QemuImg().ListSnapshotsAsync(ready.Ready.StateImage, cancellationToken: ct);
        snapshots.Should().ContainSingle().Which.Icount.Should().BeGreaterThan(1L << 31, "saved in record mode, with the replay counter");

        var normal = () => ready.Ready.StartAsync(ready.Spec, ready.Options, ct);
        (await normal.Should().ThrowAsync<QemuTestKit.Machines.Runtime.ReadyStateMismatchException>()).Which.Message.Should()
            .Contain("prepared for recorded runs").And.Contain("RunMode.Record");

        var legacy = ready.Ready with { ForRecording = false };
        var record = () => legacy.StartAsync(ready.Spec, ready.Options with { Mode = QemuTestKit.Machines.CommandLine.RunMode.Record }, ct);
        (await record.Should().ThrowAsync<QemuTestKit.Machines.Runtime.ReadyStateMismatchException>()).Which.Message.Should()
            .Contain("2^32").And.Contain("prepare it again");
    }

    [Fact]
    public async Task Automatic_checkpoints_are_taken_at_the_requested_interval()
    {
        var ct = TestContext.Current.CancellationToken;
        var ready = fixture.Ready;
        await using var machine = await ready.Ready.StartAsync(ready.Spec,
            ready.Options with { Mode = QemuTestKit.Machines.CommandLine.RunMode.Record, CheckpointInterval = TimeSpan.FromSeconds(1) }, ct);

        (await machine.ExecAsync("sleep 4; echo done", TimeSpan.FromSeconds(120), ct)).Output.Should().Be("done");

        var checkpoints = machine.Checkpoints;
        checkpoints.Select(c => c.Name).Should().StartWith(["auto-1", "auto-2"]);
        checkpoints.Select(c => c.Icount).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
    }
}

using QemuTestKit.Introspection.Images;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Tests.Runtime;

public sealed class ReadyStateTests(ReadyGuestFixture fixture) : IClassFixture<ReadyGuestFixture>
{
    [Fact]
    public async Task The_ready_state_holds_the_ready_snapshot_and_names_its_spec_and_binary()
    {
        var snapshots = await new QemuImg().ListSnapshotsAsync(fixture.Ready.StateImage, cancellationToken: TestContext.Current.CancellationToken);

        snapshots.Should().ContainSingle(s => s.Name == ReadyState.SnapshotName).Which.VmStateSize.Should().BeGreaterThan(1024 * 1024);
        fixture.Ready.SpecHash.Should().Be(ReadyState.HashOf(fixture.Spec));
        fixture.Ready.Binary.Should().Be(fixture.Catalog.BinaryIdentity);
        ReadyState.Load(fixture.Ready.Directory).Should().BeEquivalentTo(fixture.Ready);
    }

    [Fact]
    public void Preparing_reports_the_boot_while_it_waits_and_stops_when_ready()
    {
        // The test guest takes 8 s or more to become ready under TCG; reports came every second until then.
        var reports = fixture.BootReports;
        reports.Count.Should().BeGreaterThan(2);
        reports.Should().OnlyContain(r => r.Machine == fixture.Spec.Name);
        reports.Select(r => r.Elapsed).Should().BeInAscendingOrder();
        reports[^1].Elapsed.TotalSeconds.Should().BeLessThanOrEqualTo(fixture.Ready.BootSeconds + 0.5, "no report after the ready pattern");
        // The test guest boots quiet: its console may stay empty until the ready line, so what a report says of it is
        // proven by The_last_console_line_is_printable_text, not here.
    }

    [Theory]
    [InlineData("[    1.234] Run /init\r\n\u001b[1;32mOK\u001b[0m started\r\n\r\n", "OK started")]
    [InlineData("", "")]
    [InlineData("\r\n\r\n", "")]
    public void The_last_console_line_is_printable_text(string tail, string expected)
    {
        BootProgress.LastLine(System.Text.RegularExpressions.Regex.Unescape(tail)).Should().Be(expected);
    }

    [Fact]
    public async Task A_normal_run_from_the_snapshot_runs_on_the_hosts_time_not_the_snapshots()
    {
        var ct = TestContext.Current.CancellationToken;
        // The snapshot's clock stopped when it was saved; let it fall clearly behind.
        await Task.Delay(TimeSpan.FromSeconds(8), ct);
        await using var machine = await fixture.Ready.StartAsync(fixture.Spec, fixture.Options, ct);

        var guest = long.Parse((await machine.ExecAsync("date -u +%s", TimeSpan.FromSeconds(120), ct)).Output, System.Globalization.CultureInfo.InvariantCulture);

        guest.Should().BeCloseTo(DateTimeOffset.UtcNow.ToUnixTimeSeconds(), 4, "the guest's clock was set from the host's before the first command");
    }

    [Fact]
    public async Task Recording_from_a_snapshot_saved_outside_record_mode_is_refused_before_qemu_starts()
    {
        // QEMU 7.2 would account the snapshot's ~6.3e9 instructions as one 32-bit step: an abort, or breaks that never stop.
        var start = () => QemuMachine.StartAsync(fixture.Spec, fixture.Options with
        {
            Mode = QemuTestKit.Machines.CommandLine.RunMode.Record,
            StateImageSource = fixture.Ready.StateImage,
            LoadSnapshot = ReadyState.SnapshotName,
        }, TestContext.Current.CancellationToken);

        (await start.Should().ThrowAsync<MachineStartException>()).Which.Message.Should()
            .Contain("snapshot 'ready'").And.Contain("outside record mode").And.Contain("IcountShift");
    }

    [Fact]
    public async Task Four_instances_start_from_one_preparation_in_parallel_and_do_not_share_state()
    {
        var ct = TestContext.Current.CancellationToken;
        var machines = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => fixture.Ready.StartAsync(fixture.Spec, fixture.Options, ct)));
        try
        {
            var marks = await Task.WhenAll(machines.Select(async (m, i) =>
            {
                var write = await m.ExecAsync($"echo instance-{i} > /tmp/who && ls /tmp", TimeSpan.FromSeconds(120), ct);
                write.ExitCode.Should().Be(0);
                return await m.ExecAsync("cat /tmp/who; ls /tmp | wc -l", TimeSpan.FromSeconds(120), ct);
            }));

            for (var i = 0; i < machines.Length; i++)
            {
                marks[i].ExitCode.Should().Be(0);
                marks[i].Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().Equal($"instance-{i}", "1");
            }

            machines.Select(m => m.Files.StateImage).Should().OnlyHaveUniqueItems()
                .And.NotContain(fixture.Ready.StateImage, "each instance runs on a private copy of the state image");
        }
        finally
        {
            await Task.WhenAll(machines.Select(m => m.DisposeAsync().AsTask()));
        }
    }

    [Fact]
    public async Task A_state_prepared_from_another_spec_is_refused_with_prepare_again()
    {
        var other = fixture.Spec with { MemoryMiB = 512 };

        var act = () => fixture.Ready.StartAsync(other, fixture.Options, TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<ReadyStateMismatchException>()).Which.Message.Should().Contain("different spec").And.Contain("prepare it again");
    }

    [Fact]
    public async Task Killing_qemu_mid_test_is_reported_promptly_with_exit_code_and_tails()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var machine = await fixture.Ready.StartAsync(fixture.Spec, fixture.Options, ct);
        (await machine.ExecAsync("echo alive", TimeSpan.FromSeconds(120), ct)).Output.Trim().Should().Be("alive");

        var pending = machine.ExecAsync("sleep 600", TimeSpan.FromSeconds(300), ct);
        await Task.Delay(300, ct);
        var started = DateTime.UtcNow;
        await machine.KillAsync();

        var error = (await pending.Invoking(p => p).Should().ThrowAsync<MachineExitedException>()).Which;
        (DateTime.UtcNow - started).Should().BeLessThan(TimeSpan.FromSeconds(10), "a dead QEMU must not wait out the command's timeout");
        error.ExitCode.Should().Be(137, "SIGKILL");
        error.Message.Should().Contain("ready-guest").And.Contain("signal 9");
        error.ConsoleTail.Should().Contain("alive");
    }
}

using QemuTestKit.Introspection.Images;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.Runtime;

public sealed class ReadyStateTests(ReadyGuestFixture fixture) : IClassFixture<ReadyGuestFixture>
{
    [Fact]
    public async Task The_ready_state_holds_the_ready_snapshot_and_names_its_spec_and_binary()
    {
        var snapshots = await new QemuImg().ListSnapshotsAsync(fixture.Ready.StateImage, cancellationToken: TestContext.Current.CancellationToken);

        // The guest's RAM is in the memory file beside it: the snapshot holds only device state.
        snapshots.Should().ContainSingle(s => s.Name == ReadyState.SnapshotName).Which.VmStateSize.Should().BeInRange(1, 4 * 1024 * 1024);
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
    public void The_guests_ram_is_kept_in_a_sparse_memory_file_of_the_machines_size()
    {
        var memory = new FileInfo(fixture.Ready.MemoryFile!);

        memory.Length.Should().Be(fixture.Spec.MemoryMiB * 1024L * 1024);
        SparseFiles.AllocatedBytes(memory.FullName).Should().BeLessThan(memory.Length / 2, "pages the guest zeroed (init_on_free=1) are holes, not stored zeros");
    }

    [Fact]
    public async Task Starts_map_the_memory_file_copy_on_write_and_never_write_it()
    {
        var ct = TestContext.Current.CancellationToken;
        var before = SparseFiles.Sha256(fixture.Ready.MemoryFile!);
        await using (var machine = await fixture.Ready.StartAsync(fixture.Spec, fixture.Options, ct))
        {
            // 32 MiB of new data in guest RAM (the test guest's /tmp is in RAM), read back through the guest.
            var written = await machine.ExecAsync("dd if=/dev/urandom of=/tmp/fill bs=1M count=32 2>/dev/null && md5sum /tmp/fill | cut -c1-8", TimeSpan.FromSeconds(120), ct);
            written.ExitCode.Should().Be(0, written.Output);
            machine.Files.MemoryFile.Should().Be(Path.GetFullPath(fixture.Ready.MemoryFile!));
            machine.Files.MemoryFileShared.Should().BeFalse();
        }

        SparseFiles.Sha256(fixture.Ready.MemoryFile!).Should().Be(before, "a start maps the memory file private: the guest's writes stay in its own copy");
    }

    [Fact]
    public async Task Loading_the_start_snapshot_again_is_refused_with_what_to_do_instead()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var machine = await fixture.Ready.StartAsync(fixture.Spec, fixture.Options, ct);

        var act = () => machine.LoadSnapshotAsync(ReadyState.SnapshotName, ct);

        (await act.Should().ThrowAsync<InvalidOperationException>()).Which.Message.Should()
            .Contain("holds no RAM").And.Contain("start a new machine from the ready state");
        (await machine.ExecAsync("echo still-here", TimeSpan.FromSeconds(120), ct)).Output.Should().Be("still-here");
    }

    [Fact]
    public async Task A_preparation_whose_guest_never_gets_ready_leaves_no_run_directory_behind()
    {
        var ct = TestContext.Current.CancellationToken;
        var root = Directory.CreateTempSubdirectory("qtk-prepare-fail-").FullName;
        try
        {
            var never = fixture.Spec with { Name = "never-ready", Ready = new QemuTestKit.Machines.Specs.ReadyCondition("no guest prints this line", 3) };

            var act = () => ReadyState.PrepareAsync(never, Path.Combine(root, "state"), fixture.Options with { RunRoot = Path.Combine(root, "runs") }, ct);

            await act.Should().ThrowAsync<QemuTestKit.Machines.Console.ConsoleTimeoutException>();
            Directory.Exists(Path.Combine(root, "state")).Should().BeFalse();
            Directory.EnumerateFileSystemEntries(Path.Combine(root, "runs")).Should().BeEmpty("the boot kept its run directory for the store, and a failed boot must not leave it");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task A_missing_memory_file_is_refused_with_prepare_again()
    {
        var copy = fixture.Ready with { MemoryFile = fixture.Ready.MemoryFile + ".gone" };

        var act = () => copy.StartAsync(fixture.Spec, fixture.Options, TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<ReadyStateMismatchException>()).Which.Message.Should().Contain("memory file").And.Contain(".gone").And.Contain("prepare it again");
    }
}

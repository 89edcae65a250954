using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Tests.Runtime;

public sealed class RamBackingFileTests : IDisposable
{
    // Beside the test assembly, on disk: /tmp may be tmpfs (Debian 13), where the file is left out on purpose.
    private readonly string _directory = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, $"ram-{Guid.NewGuid():N}")).FullName;

    private static string[] Start(params string[] tail) =>
        ["-name", "guest=g", "-machine", "type=q35", "-accel", "tcg", "-m", "256M", "-smp", "1", .. tail];

    [Fact]
    public void A_start_that_loads_a_snapshot_maps_the_default_ram_from_a_sparse_file_and_the_callers_array_stays_portable()
    {
        var arguments = Start("-icount", "shift=5,rr=record,rrfile=/r/replay.bin", "-loadvm", "ready");
        var before = arguments.ToArray();

        var started = RamBackingFile.ForLocalStart(arguments, "pc.ram", _directory);

        var file = Path.Combine(_directory, "zero-256M");
        started.Should().Equal(
            [
                "-name", "guest=g", "-machine", "type=q35,memory-backend=pc.ram", "-accel", "tcg", "-m", "256M",
                "-object", $"memory-backend-file,id=pc.ram,size=256M,mem-path={file},share=off,x-use-canonical-path-for-ramblock-id=off",
                "-smp", "1", "-icount", "shift=5,rr=record,rrfile=/r/replay.bin", "-loadvm", "ready",
            ],
            "the backend takes the default RAM's id and size, so the RAM block QEMU saves and loads keeps its name");
        arguments.Should().Equal(before, "the arguments a bundle records never name this host's file");
        new FileInfo(file).Length.Should().Be(256L << 20);
        using var stream = File.OpenRead(file);
        var head = new byte[1 << 16];
        stream.ReadExactly(head);
        head.Should().OnlyContain(b => b == 0);
    }

    [Fact]
    public void A_replay_from_a_checkpoint_loads_it_through_rrsnapshot_and_gets_the_file_too()
    {
        var started = RamBackingFile.ForLocalStart(Start("-icount", "shift=5,rr=replay,rrfile=/r/replay.bin,rrsnapshot=c1"), "pc.ram", _directory);

        started.Should().Contain(a => a.StartsWith("memory-backend-file,id=pc.ram,", StringComparison.Ordinal));
    }

    [Fact]
    public void Starts_that_load_no_snapshot_debug_or_choose_their_own_memory_keep_qemus_ram()
    {
        string[][] kept =
        [
            Start(), // a cold boot would see the file's contents
            Start("-icount", "shift=5,rr=record,rrfile=/r/replay.bin,rrsnapshot=ready"), // saves ready, loads nothing
            Start("-loadvm", "ready", "-gdb", "unix:/r/gdb.sock,server=on,wait=off"),
            ["-machine", "type=q35,memory-backend=qtk-ram", "-m", "256M", "-object", "memory-backend-file,id=qtk-ram,size=256M,mem-path=/s/ram,share=off", "-loadvm", "ready"],
            Start("-mem-path", "/dev/hugepages", "-loadvm", "ready"),
            ["-machine", "type=q35", "-m", "size=256M,maxmem=1G", "-loadvm", "ready"],
        ];

        foreach (var arguments in kept)
        {
            RamBackingFile.ForLocalStart(arguments, "pc.ram", _directory).Should().Equal(arguments, string.Join(' ', arguments));
        }

        RamBackingFile.ForLocalStart(Start("-loadvm", "ready"), defaultRamId: null, _directory).Should().Equal(Start("-loadvm", "ready"),
            "without the machine type's default RAM id the RAM block's name is unknown");
    }

    [Fact]
    public void A_cache_directory_on_tmpfs_keeps_qemus_ram_because_the_files_pages_would_take_real_memory()
    {
        var shm = "/dev/shm";
        File.ReadAllLines("/proc/mounts").Select(l => l.Split(' ')).Where(f => f.Length > 2 && f[1] == shm).Select(f => f[2]).Should().Contain("tmpfs",
            "this test needs /dev/shm on tmpfs, as every Debian system and Docker container has it");
        var directory = Path.Combine(shm, $"qtk-ram-{Guid.NewGuid():N}");
        try
        {
            RamBackingFile.ForLocalStart(Start("-loadvm", "ready"), "pc.ram", directory).Should().Equal(Start("-loadvm", "ready"));
            Directory.EnumerateFiles(directory).Should().BeEmpty();
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void A_file_that_cannot_be_put_in_place_keeps_qemus_ram_and_leaves_no_temporary_file_behind()
    {
        Directory.CreateDirectory(Path.Combine(_directory, "zero-256M")); // Where the file goes: the rename onto it fails.

        RamBackingFile.ForLocalStart(Start("-loadvm", "ready"), "pc.ram", _directory).Should().Equal(Start("-loadvm", "ready"));

        Directory.EnumerateFileSystemEntries(_directory).Select(Path.GetFileName).Should().Equal(["zero-256M"],
            "a failed start must not leave a staging file that every further start would add to");
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}

using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.CommandLine;

/// <summary>
/// Turns a validated spec into QEMU's argument array. Deterministic: <c>-nodefaults</c>, an explicit id for every
/// drive, netdev and device, and an explicit bus and address for every PCI device, assigned in declaration order, so
/// the same spec always yields the same hardware. Record and replay arrays differ from each other only in
/// <c>rr=record|replay</c>; from a normal run they differ by <c>rr</c>, <c>blkreplay</c> and <c>filter-replay</c>.
/// </summary>
public static class QemuCommandLine
{
    /// <summary>The id of the drive that stores snapshots; it is the first drive so QEMU puts the VM state there.</summary>
    public const string StateDriveId = "qtk-state";

    /// <summary>Node name of the state image's format node, for <c>snapshot-save</c>'s <c>vmstate</c>.</summary>
    public const string StateNodeName = "qtk-state-fmt";

    public static IReadOnlyList<string> Build(MachineSpec spec, QemuCatalog catalog, MachineRunFiles files, CommandLineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(files);
        options ??= new CommandLineOptions();
        var recorded = options.Mode != RunMode.Normal;
        if (recorded && files.ReplayLog is null)
        {
            throw new ArgumentException("record and replay runs need MachineRunFiles.ReplayLog", nameof(files));
        }

        if (files.DiskImages.Count != spec.Disks.Count)
        {
            throw new ArgumentException($"{spec.Disks.Count} disks declared but {files.DiskImages.Count} disk images given", nameof(files));
        }

        var args = new List<string>();
        void Add(params string[] values) => args.AddRange(values);
        var pci = new PciSlotAllocator(BusLayout.From(options.DeviceTree, catalog));

        Add("-name", QemuOptionValue.Join(string.Empty, ("guest", spec.Name)));
        Add("-machine", QemuOptionValue.Join(string.Empty,
            new[] { new KeyValuePair<string, string?>("type", spec.MachineType) }
                .Concat(spec.MachineOptions.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => new KeyValuePair<string, string?>(o.Key, o.Value)))
                .Concat(files.MemoryFile is null ? [] : [new KeyValuePair<string, string?>("memory-backend", MemoryBackendId)])));
        Add("-accel", spec.Accelerator == Accelerator.Kvm ? "kvm" : "tcg");
        if (spec.Cpu is not null)
        {
            Add("-cpu", spec.Cpu);
        }

        Add("-m", string.Create(CultureInfo.InvariantCulture, $"{spec.MemoryMiB}M"));
        if (files.MemoryFile is { } memory)
        {
            Add("-object", QemuOptionValue.Join("memory-backend-file", ("id", MemoryBackendId),
                ("size", string.Create(CultureInfo.InvariantCulture, $"{spec.MemoryMiB}M")), ("mem-path", memory), ("share", files.MemoryFileShared ? "on" : "off")));
        }

        Add("-smp", spec.Smp.ToString(CultureInfo.InvariantCulture));
        Add("-nodefaults", "-no-user-config", "-display", "none", "-no-reboot");

        Add("-qmp", QemuOptionValue.Join("unix:" + QemuOptionValue.Escape(files.QmpSocket), ("server", "on"), ("wait", "off")));
        for (var i = 0; i < files.SerialPorts.Count; i++)
        {
            var id = string.Create(CultureInfo.InvariantCulture, $"serial{i}");
            var serial = files.SerialPorts[i];
            Add("-chardev", MachineRunFiles.IsSerialSocket(serial)
                ? QemuOptionValue.Join("socket", ("id", id), ("path", serial), ("server", "off"))
                : QemuOptionValue.Join("pipe", ("id", id), ("path", serial)));
            Add("-serial", "chardev:" + id);
        }

        if (spec.Kernel is not null)
        {
            Add("-kernel", spec.Kernel);
        }

        if (spec.Initrd is not null)
        {
            Add("-initrd", spec.Initrd);
        }

        if (spec.Append is not null)
        {
            Add("-append", spec.Append);
        }

        if (spec.Firmware is not null)
        {
            Add("-bios", spec.Firmware);
        }

        // The state image is this run's private copy: what outlives the run (a ready state, a kept bundle) is flushed
        // to disk once when it is stored, so QEMU's flush after every savevm (0.4-0.8 s here) is skipped.
        Add("-drive", QemuOptionValue.Join(string.Empty, ("if", "none"), ("id", StateDriveId), ("node-name", StateNodeName),
            ("format", "qcow2"), ("cache", "unsafe"), ("file", files.StateImage)));
        AddDisks(spec, files, recorded, pci, catalog, Add);
        AddNics(spec, recorded, pci, catalog, Add);
        foreach (var (device, index) in spec.Devices.Select((d, i) => (d, i)))
        {
            var id = device.Id ?? string.Create(CultureInfo.InvariantCulture, $"{device.Type}-{index}");
            var properties = new List<KeyValuePair<string, string?>> { new("id", id) };
            properties.AddRange((device.Properties ?? new Dictionary<string, string>()).Select(p => new KeyValuePair<string, string?>(p.Key, p.Value)));
            if (pci.IsPci(device.Type) && !(device.Properties?.ContainsKey("bus") ?? false) && !(device.Properties?.ContainsKey("addr") ?? false))
            {
                properties.AddRange(pci.Next());
            }

            Add("-device", QemuOptionValue.Join(device.Type, properties));
        }

        // A snapshot saved without icount cannot be recorded from (the guest's clock stalls after -loadvm), so a ready
        // state meant for recording is made with icount, and every run from it, recorded or not, counts instructions.
        var shift = options.IcountShift ?? (recorded ? CommandLineOptions.DefaultRecordIcountShift : null);
        var icount = new List<KeyValuePair<string, string?>>();
        if (shift is { } value)
        {
            icount.Add(new("shift", value.ToString(CultureInfo.InvariantCulture)));
        }

        if (recorded)
        {
            icount.Add(new("rr", options.Mode == RunMode.Record ? "record" : "replay"));
            icount.Add(new("rrfile", files.ReplayLog));
            if (options.ReplaySnapshot is not null)
            {
                icount.Add(new("rrsnapshot", options.ReplaySnapshot));
            }
        }

        if (recorded && catalog.QomTypes.Any(t => t.Name == "apic-common") && !spec.ExtraArguments.Any(a => a.StartsWith("apic-common.vapic=", StringComparison.Ordinal)))
        {
            // x86's kvmvapic deadlocks QEMU 7.2 when a replay loads a snapshot while running (reverse steps, replay-seek);
            // it only serves 32-bit Windows XP, so recorded machines go without it (ReverseDebugging.cs has the detail).
            Add("-global", "apic-common.vapic=off");
        }

        if (recorded && HasPl031(options.DeviceTree) && !spec.ExtraArguments.Contains("-rtc"))
        {
            // The PL031 (aarch64 virt's RTC) reads the host clock as it loads from a snapshot, and in record mode each
            // read is a replay log event. The replay log position a snapshot keeps is taken before the RTC loads, so a
            // replay from the ready snapshot read the recording's next events as those clock reads: "Replay: unknown
            // event kind" at start, or a stall, for some recordings and not others. On the virtual clock it reads
            // nothing from the log.
            Add("-rtc", "clock=vm");
        }

        if (icount.Count > 0)
        {
            Add("-icount", QemuOptionValue.Join(string.Empty, icount));
        }

        var loadAfterStart = files.LoadsSnapshotAfterStart(options.LoadSnapshot);
        if (options.LoadSnapshot is not null && !loadAfterStart)
        {
            Add("-loadvm", options.LoadSnapshot);
        }

        if (options.GdbTcpPort is { } port)
        {
            Add("-gdb", string.Create(CultureInfo.InvariantCulture, $"tcp:127.0.0.1:{port}"));
        }
        else if (files.GdbSocket is not null)
        {
            Add("-gdb", QemuOptionValue.Join("unix:" + QemuOptionValue.Escape(files.GdbSocket), ("server", "on"), ("wait", "off")));
        }

        if (options.Paused || loadAfterStart)
        {
            Add("-S");
        }

        args.AddRange(spec.ExtraArguments);
        return args;
    }

    /// <summary>The id of the memory backend a run with <see cref="MachineRunFiles.MemoryFile"/> maps its RAM from.</summary>
    public const string MemoryBackendId = "qtk-ram";

    /// <summary>The drive id of a disk: its own, or disk0, disk1... in declaration order.</summary>
    public static string DiskId(DiskSpec disk, int index) => disk.Id ?? string.Create(CultureInfo.InvariantCulture, $"disk{index}");

    /// <summary>The netdev id of a NIC: its own, or net0, net1... in declaration order.</summary>
    public static string NicId(NicSpec nic, int index) => nic.Id ?? string.Create(CultureInfo.InvariantCulture, $"net{index}");

    private static void AddDisks(MachineSpec spec, MachineRunFiles files, bool recorded, PciSlotAllocator pci, QemuCatalog catalog, Action<string[]> add)
    {
        var ideUnit = 0;
        var scsiController = false;
        for (var i = 0; i < spec.Disks.Count; i++)
        {
            var disk = spec.Disks[i];
            var id = DiskId(disk, i);
            var image = files.DiskImages[i];
            // A writable disk runs on a qcow2 overlay over the base; a read-only one reads the base in place.
            var format = disk.ReadOnly ? disk.Format ?? "raw" : "qcow2";
            var drive = new List<(string, string?)> { ("if", "none"), ("id", recorded ? id + "-image" : id), ("node-name", id + "-fmt"), ("format", format), ("file", image) };
            if (disk.ReadOnly)
            {
                drive.Add(("readonly", "on"));
            }
            else
            {
                // The overlay lives as long as the run (or moves into a bundle, flushed then): the guest's flushes need not wait for the disk.
                drive.Insert(4, ("cache", "unsafe"));
            }

            add(["-drive", QemuOptionValue.Join(string.Empty, drive.ToArray())]);
            if (recorded)
            {
                // blkreplay makes disk completions happen at recorded instruction counts.
                add(["-drive", QemuOptionValue.Join(string.Empty, ("if", "none"), ("driver", "blkreplay"), ("image", id + "-image"), ("id", id))]);
            }

            var device = new List<KeyValuePair<string, string?>> { new("drive", id), new("id", id + "-dev") };
            switch (disk.Interface)
            {
                case "ide-hd" or "ide-cd":
                    device.AddRange(pci.Layout.IdeBus(ideUnit++));
                    break;
                case "scsi-hd" or "scsi-cd":
                    if (!scsiController)
                    {
                        add(["-device", QemuOptionValue.Join("virtio-scsi-pci", new[] { new KeyValuePair<string, string?>("id", "qtk-scsi") }.Concat(pci.Next()))]);
                        scsiController = true;
                    }

                    device.Add(new("bus", "qtk-scsi.0"));
                    break;
                case "nvme":
                    device.Add(new("serial", id));
                    device.AddRange(pci.Next());
                    break;
                default:
                    if (pci.IsPci(disk.Interface))
                    {
                        device.AddRange(pci.Next());
                    }

                    break;
            }

            DeterministicNotify(catalog, disk.Interface, device);
            add(["-device", QemuOptionValue.Join(disk.Interface, device)]);
        }
    }

    private static void AddNics(MachineSpec spec, bool recorded, PciSlotAllocator pci, QemuCatalog catalog, Action<string[]> add)
    {
        for (var i = 0; i < spec.Nics.Count; i++)
        {
            var nic = spec.Nics[i];
            var id = NicId(nic, i);
            var netdev = new List<KeyValuePair<string, string?>> { new("id", id) };
            foreach (var forward in nic.HostForwards ?? [])
            {
                // Forwards listen on 127.0.0.1 only: a guest's services are never exposed beyond this host.
                netdev.Add(new("hostfwd", string.Create(CultureInfo.InvariantCulture, $"{forward.Protocol}:127.0.0.1:{forward.HostPort}-:{forward.GuestPort}")));
            }

            add(["-netdev", QemuOptionValue.Join("user", netdev)]);
            if (recorded)
            {
                add(["-object", QemuOptionValue.Join("filter-replay", ("id", id + "-replay"), ("netdev", id))]);
            }

            var device = new List<KeyValuePair<string, string?>> { new("netdev", id), new("id", id + "-dev"), new("mac", nic.Mac ?? StableMac(spec.Name, i)) };
            if (pci.IsPci(nic.Model))
            {
                device.AddRange(pci.Next());
            }

            DeterministicNotify(catalog, nic.Model, device);
            add(["-device", QemuOptionValue.Join(nic.Model, device)]);
        }
    }

    /// <summary>
    /// Virtio devices signal the host through ioeventfds that QEMU's event loop services at moments record/replay does
    /// not log, so a replay of a machine with them stalls. With <c>ioeventfd=off</c> the notification is handled in the
    /// vCPU thread, deterministically. Set in every mode, so a snapshot fits normal, record and replay runs alike.
    /// </summary>
    private static void DeterministicNotify(QemuCatalog catalog, string deviceType, List<KeyValuePair<string, string?>> properties)
    {
        if (catalog.FindDevice(deviceType)?.FindProperty("ioeventfd") is not null)
        {
            properties.Add(new("ioeventfd", "off"));
        }
    }

    /// <summary>A locally administered MAC in QEMU's 52:54:00 range, the same for the same machine and NIC every run.</summary>
    public static string StableMac(string machineName, int index)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{machineName}/{index}")));
        return string.Create(CultureInfo.InvariantCulture, $"52:54:00:{hash[0]:x2}:{hash[1]:x2}:{hash[2]:x2}");
    }

    private static bool HasPl031(MachineDeviceTree? tree) =>
        tree is not null && tree.AllDevices().Concat(tree.DevicesWithoutBus).Any(d => d.Type == "pl031");
}

namespace QemuTestKit.Tasks.Items;

/// <summary>The item types and metadata names of the MSBuild layer (docs/msbuild.md), each mapping onto a part of <c>MachineSpec</c>.</summary>
internal static class ItemTypes
{
    public const string Machine = "QemuMachine";
    public const string Disk = "QemuDisk";
    public const string Nic = "QemuNic";
    public const string Device = "QemuDevice";

    /// <summary>What the error messages call an item's Include.</summary>
    public const string Include = "Include";

    public static class MachineMetadata
    {
        public const string Qemu = "Qemu";
        public const string Architecture = "Architecture";
        public const string MachineType = "MachineType";
        public const string MachineOptions = "MachineOptions";
        public const string Cpu = "Cpu";
        public const string Memory = "Memory";
        public const string Smp = "Smp";
        public const string Accelerator = "Accelerator";
        public const string Kernel = "Kernel";
        public const string Initrd = "Initrd";
        public const string Append = "Append";
        public const string Firmware = "Firmware";
        public const string SerialConsoles = "SerialConsoles";
        public const string ReadyPattern = "ReadyPattern";
        public const string ReadyTimeout = "ReadyTimeout";
        public const string ExtraArguments = "ExtraArguments";
        public const string Prepare = "Prepare";
        public const string Record = "Record";
        public const string Host = "Host";
        public const string Image = "Image";
    }

    /// <summary>The values of <c>Host</c>: where QEMU runs (written as is into the manifest, read by the fixtures).</summary>
    public static class Hosts
    {
        public const string Local = QemuTestKit.Machines.Runtime.MachineHosts.Local;
        public const string Container = QemuTestKit.Machines.Runtime.MachineHosts.Container;

        /// <summary>The image a container machine uses when it names none (what <c>build.sh setup</c> builds).</summary>
        public const string DefaultImage = QemuTestKit.Machines.Runtime.MachineHosts.DefaultImage;

        /// <summary>The one target a container runs: the image carries qemu-system-x86_64 only (eng/docker/build-image.sh).</summary>
        public const string ContainerTarget = "x86_64";

        public static IReadOnlyList<string> All { get; } = [Local, Container];
    }

    /// <summary>The metadata that ties a disk, NIC or device to its machine.</summary>
    public const string MachineReference = "Machine";

    public static class DiskMetadata
    {
        public const string Format = "Format";
        public const string Interface = "Interface";
        public const string ReadOnly = "ReadOnly";
        public const string Id = "Id";
    }

    public static class NicMetadata
    {
        public const string Model = "Model";
        public const string HostForwards = "HostForwards";
        public const string Mac = "Mac";
    }

    public static class DeviceMetadata
    {
        public const string Properties = "Properties";
        public const string Id = "Id";
    }

    /// <summary>Every metadata name an item type understands (anything else gets a QTK2010 warning).</summary>
    public static IReadOnlyList<string> KnownMetadata(string itemType) => itemType switch
    {
        Machine =>
        [
            MachineMetadata.Qemu, MachineMetadata.Architecture, MachineMetadata.MachineType, MachineMetadata.MachineOptions,
            MachineMetadata.Cpu, MachineMetadata.Memory, MachineMetadata.Smp, MachineMetadata.Accelerator, MachineMetadata.Kernel,
            MachineMetadata.Initrd, MachineMetadata.Append, MachineMetadata.Firmware, MachineMetadata.SerialConsoles,
            MachineMetadata.ReadyPattern, MachineMetadata.ReadyTimeout, MachineMetadata.ExtraArguments, MachineMetadata.Prepare,
            MachineMetadata.Record, MachineMetadata.Host, MachineMetadata.Image,
        ],
        Disk => [MachineReference, DiskMetadata.Format, DiskMetadata.Interface, DiskMetadata.ReadOnly, DiskMetadata.Id],
        Nic => [MachineReference, NicMetadata.Model, NicMetadata.HostForwards, NicMetadata.Mac],
        Device => [MachineReference, DeviceMetadata.Properties, DeviceMetadata.Id],
        _ => [],
    };
}
